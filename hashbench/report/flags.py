"""The board's flag rules: each takes a record (and its direction's column prefix) and returns
the flag it raises on the record's row, or None. A flag never changes a number; it says why a
number should be read with care. ``RECORD_FLAGS`` lists them in the order they are checked."""

from __future__ import annotations

from hashbench.cpu_kernels import AT_OR_BELOW_PIN
from hashbench.records.types import ABSENT, BLACKBOX_WORST_CASE, CLEAN, WORST_CASE, Record

# A robust mAP above the clean one by this much means the attack helped retrieval: broken attack.
ABOVE_CLEAN_TOLERANCE = 0.02
# At eps >= 0.5 an attacker can turn any image into any other grey-level image, so retrieval
# should be near random; a robust mAP well above it suggests masked gradients, not robustness.
LARGE_EPS = 0.5
NOT_RANDOM_MARGIN = 0.1
# A worst case that more budget (the suite's convergence check) lowers by more than this is not
# converged: the row's number is an upper bound that a stronger evaluation would lower.
NOT_CONVERGED_MARGIN = 0.01


def _flag_precision(rec: Record, pre: str) -> str | None:
    return f"trained with {rec.precision}" if rec.precision != "fp32" else None


def _flag_dirty_tree(rec: Record, pre: str) -> str | None:
    return "computed from a dirty tree" if rec.provenance.git_dirty else None


def _flag_cpu_kernels(rec: Record, pre: str) -> str | None:
    """Computed on other CPU kernels than the protocol's AVX2 (a script that imported torch
    before hashbench.benchmark could pin them): its numbers need not match a pinned rerun."""
    kernels = rec.provenance.cpu_kernels
    aten = kernels.aten if kernels is not ABSENT and kernels.aten is not ABSENT else None
    if aten and aten.upper() not in AT_OR_BELOW_PIN and \
            str(rec.provenance.device).startswith("cpu"):  # "cpu (x86_64, 2 threads)"
        return f"computed with {aten} CPU kernels, not the protocol's AVX2"
    return None


def _flag_failed(rec: Record, pre: str) -> str | None:
    return None if rec.ok else f"{pre}{rec.attack_name} failed"


def _flag_external(rec: Record, pre: str) -> str | None:
    if rec.ok and rec.attack and rec.attack.external:
        return f"{rec.attack_name}: queries made outside hashbench"
    return None


def _flag_masking(rec: Record, pre: str) -> str | None:
    """The ensemble's black-box stages beat its white-box ones: the model's gradients mislead."""
    ens = rec.metrics.ensemble if rec.ok else None
    if ens and ens.masking_suspected:
        return (f"{pre}gradient masking suspected ({rec.attack_name}: black-box stages "
                f"{ens.blackbox_gain:.3f} below white-box)")
    return None


def _flag_above_clean(rec: Record, pre: str) -> str | None:
    m = rec.metrics
    if rec.ok and rec.attack_name not in (CLEAN, WORST_CASE, BLACKBOX_WORST_CASE) and \
            m.map > m.clean_map + ABOVE_CLEAN_TOLERANCE:
        return f"{rec.attack_name} mAP above clean"
    return None


def _flag_not_random_at_large_eps(rec: Record, pre: str) -> str | None:
    m = rec.metrics
    if rec.ok and rec.attack_name not in (CLEAN, WORST_CASE, BLACKBOX_WORST_CASE) and \
            m.eps >= LARGE_EPS and m.random_map is not ABSENT and \
            m.map > m.random_map + NOT_RANDOM_MARGIN:
        return f"{rec.attack_name} not near random at eps {m.eps:.4g}"
    return None


def _flag_not_converged(rec: Record, pre: str) -> str | None:
    conv = rec.metrics.convergence if rec.ok and rec.attack_name == WORST_CASE else ABSENT
    if conv is not ABSENT and conv.drop > NOT_CONVERGED_MARGIN:
        return f"{pre}worst case not converged (-{conv.drop:.3f} at {conv.factor}x)"
    return None


RECORD_FLAGS = (_flag_precision, _flag_dirty_tree, _flag_cpu_kernels, _flag_failed,
                _flag_external, _flag_masking, _flag_above_clean, _flag_not_random_at_large_eps,
                _flag_not_converged)


def flag_foreign_parents(rows: dict) -> None:
    """A fine-tuned row whose starting checkpoint (per seed) is not a checkpoint of a row of
    the same model on this board (its vanilla, for the first-party defenses) was fine-tuned
    from another model than the one the board measures: flag it."""
    by_model: dict[tuple, set] = {}
    for (model, _), row in rows.items():
        for (seed, _), shas in row["checkpoints"].items():
            by_model.setdefault((model, seed), set()).update(shas)
    for (model, _), row in rows.items():
        for seed, parents in row["parents"].items():
            if parents - by_model.get((model, seed), set()):
                row["flags"].add("fine-tuned from a checkpoint not on this board")
