"""What ``hashbench.benchmark`` returns: the clean and per-attack mAP of a handed-in model (with
95% bootstrap intervals over queries), its worst case, the records written, and what the board
shows of its row; per direction for an image-text model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DIRECTION_NAMES = {"i2t": "I->T", "t2i": "T->I"}


@dataclass(frozen=True)
class AttackResult:
    attack: str
    map: float
    map_ci95: tuple[float, float] | None
    t_map: float | None
    status: str
    error: str | None


@dataclass(frozen=True)
class Evaluation:
    """What ``benchmark`` measured: clean and per-attack mAP (with 95% bootstrap intervals over
    queries), the per-query worst case, and the records written."""

    name: str
    dataset: str
    suite: str
    seed: int
    bits: int
    eps: float
    topk: int | None
    clean_map: float
    random_map: float
    attacks: tuple[AttackResult, ...]
    records: tuple[Path, ...]
    clean_map_ci95: tuple[float, float] | None = None  # bootstrap over queries
    row: str = ""  # what the board shows of this model's row (ranked or not, and why)

    @property
    def worst_case_map(self) -> float | None:
        worst = [a for a in self.attacks if a.attack == "worst_case" and a.status == "ok"]
        return worst[0].map if worst else None

    @property
    def ok(self) -> bool:
        return all(a.status == "ok" for a in self.attacks)

    def to_pandas(self):
        import pandas as pd

        lo, hi = self.clean_map_ci95 or (None, None)
        rows = [{"attack": "clean", "map": self.clean_map, "map_ci_low": lo,
                 "map_ci_high": hi, "t_map": None, "status": "ok", "error": None}]
        for a in self.attacks:
            lo, hi = a.map_ci95 if a.map_ci95 else (None, None)
            rows.append({"attack": a.attack, "map": a.map, "map_ci_low": lo, "map_ci_high": hi,
                         "t_map": a.t_map, "status": a.status, "error": a.error})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        head = (f"{self.name} on {self.dataset} ({self.suite}, seed {self.seed}, {self.bits} bits, "
                f"eps {self.eps:g}, mAP@{self.topk or 'all'}; random ranking {self.random_map:.4f})")
        w = max([14, *(len(a.attack) for a in self.attacks)])
        ci = self.clean_map_ci95
        clean_ci = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
        lines = [head, f"  {'attack':<{w}} {'mAP':>7}  {'95% interval':<17} {'t-mAP':>7}"
                 "  (intervals: bootstrap over this seed's queries)",
                 f"  {'clean':<{w}} {self.clean_map:7.4f}  {clean_ci}".rstrip()]
        for a in self.attacks:
            if a.status != "ok":
                lines.append(f"  {a.attack:<{w}} failed: {a.error}")
                continue
            interval = f"[{a.map_ci95[0]:.4f}, {a.map_ci95[1]:.4f}]" if a.map_ci95 else ""
            t = f"{a.t_map:7.4f}" if a.t_map is not None else ""
            lines.append(f"  {a.attack:<{w}} {a.map:7.4f}  {interval:<17} {t}".rstrip())
        if self.row:
            lines.append(f"  {self.row}")
        return "\n".join(lines)


class ImageTextEvaluation(dict):
    """What ``benchmark`` measured on an image-text model: an :class:`Evaluation` per
    direction (``"i2t"``: image queries retrieving texts, ``"t2i"``: the reverse)."""

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.values())

    @property
    def records(self) -> tuple[Path, ...]:
        return tuple(p for e in self.values() for p in e.records)

    def to_pandas(self):
        import pandas as pd

        return pd.concat([e.to_pandas().assign(direction=d) for d, e in self.items()],
                         ignore_index=True)

    def __str__(self) -> str:
        return "\n".join(f"[{DIRECTION_NAMES[d]}] {e}" for d, e in self.items())
