"""Leaderboards from result records alone: one table per (suite, suite version, protocol, bits).

Records of different protocols or suite versions are never ranked together. Rows are
model + defense, ranked by the worst-case robust mAP; every string taken from a record is escaped
before it reaches Markdown. Output is a pure function of the records (no timestamps), so rendering
the same results twice gives byte-identical files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hashbench.records import atomic_write_bytes, iter_record_paths, load_record
from hashbench.suites import CLEAN, WORST_CASE

# A robust mAP above the clean one by this much means the attack helped retrieval: broken attack.
ABOVE_CLEAN_TOLERANCE = 0.02
# At eps >= 0.5 an attacker can turn any image into any other grey-level image, so retrieval
# should be near random; a robust mAP well above it suggests masked gradients, not robustness.
LARGE_EPS = 0.5
NOT_RANDOM_MARGIN = 0.1


@dataclass(frozen=True)
class Board:
    suite: str
    suite_version: int
    protocol: str
    bits: int
    eps: float
    table: pd.DataFrame

    @property
    def slug(self) -> str:
        return slug(f"{self.suite}-v{self.suite_version}_{self.protocol}_{self.bits}b_"
                    f"eps{self.eps:.4g}")

    @property
    def title(self) -> str:
        return (f"{self.suite} v{self.suite_version} · {self.protocol} · {self.bits} bits · "
                f"eps {self.eps:.4g}")


def slug(text: str) -> str:
    """A file-name-safe form of any string (names from records included)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip(".") or "-"


def load_records(results_dir: Path) -> list[tuple[Path, dict]]:
    """Every record under ``results_dir`` with its path; a malformed one raises the validator's
    message (nothing is rendered from a half-valid tree)."""
    return [(p, load_record(p)) for p in iter_record_paths([Path(results_dir)])]


def row_key(rec: dict) -> tuple[str, str]:
    m = rec["model"]
    return (f"{m['method']}-{m['backbone']}", m["defense"]["name"])


def group_key(rec: dict) -> tuple[str, int, str, int]:
    """Records are only compared with records sharing this key (one board per eps within it)."""
    return (rec["suite"]["name"], rec["suite"]["version"], rec["dataset"]["protocol"],
            rec["model"]["bits"])


def board_key(rec: dict) -> tuple[str, int, str, int, float]:
    return (*group_key(rec), float(rec["metrics"]["eps"]))


def build_boards(records: list[dict]) -> list[Board]:
    groups: dict[tuple, list[dict]] = {}
    newest: dict[str, int] = {}
    for rec in records:
        groups.setdefault(board_key(rec), []).append(rec)
        name = rec["suite"]["name"]
        newest[name] = max(newest.get(name, 0), rec["suite"]["version"])
    return [Board(*key, _table(recs, outdated=key[1] < newest[key[0]]))
            for key, recs in sorted(groups.items())]


# Image-text records carry a direction; their columns are prefixed with it.
DIRECTION_PREFIX = {None: "", "i2t": "I→T ", "t2i": "T→I "}


def _table(records: list[dict], outdated: bool = False) -> pd.DataFrame:
    rows: dict[tuple, dict] = {}
    directions = sorted({r["metrics"].get("direction") or "" for r in records})
    prefixes = [DIRECTION_PREFIX[d or None] for d in directions]
    for rec in sorted(records, key=lambda r: (row_key(r), r["cell"]["attack"])):
        model, defense = row_key(rec)
        pre = DIRECTION_PREFIX[rec["metrics"].get("direction")]
        row = rows.setdefault((model, defense), {
            "model": model, "defense": defense, "third_party": False,
            **{f"{p}clean mAP": None for p in prefixes},
            "eps": rec["metrics"]["eps"], "steps": None,
            "flags": {"older suite version"} if outdated else set(),
        })
        if "text_flips" in rec["metrics"]:
            row["text flips"] = rec["metrics"]["text_flips"]
        row["third_party"] |= bool(rec["model"]["defense"].get("third_party"))
        precision = rec.get("provenance", {}).get("precision", "fp32")
        if precision != "fp32":
            row["flags"].add(f"trained with {precision}")
        attack, m = rec["cell"]["attack"], rec["metrics"]
        if rec["status"] != "ok":
            row["flags"].add(f"{pre}{attack} failed")
            continue
        row[f"{pre}clean mAP"] = m["clean_map"]
        if attack == CLEAN and m["clean_map"] < m.get("random_map", -1.0) + NOT_RANDOM_MARGIN:
            # robust mAP of a model that retrieves at chance says nothing about robustness
            row["flags"].add(f"{pre}clean mAP within {NOT_RANDOM_MARGIN} of random ranking")
        if attack == WORST_CASE:
            row[f"{pre}worst-case mAP"] = m["map"]
        elif attack != CLEAN:
            if "t_map" in m:
                row[f"{pre}{attack} t-mAP"] = m["t_map"]
            row[f"{pre}{attack} mAP"] = m["map"]
            steps = (rec.get("attack") or {}).get("params", {}).get("steps")
            if steps is not None:
                row["steps"] = steps if row["steps"] in (None, steps) else "mixed"
            if (rec.get("attack") or {}).get("external"):
                row["flags"].add(f"{attack}: queries made outside hashbench")
            ensemble = m.get("ensemble") or {}
            if ensemble.get("masking_suspected"):
                # black-box stages beat the white-box ones: the model's gradients mislead
                row["flags"].add(f"{pre}gradient masking suspected ({attack}: black-box "
                                 f"stages {ensemble['blackbox_gain']:.3f} below white-box)")
            if m["map"] > m["clean_map"] + ABOVE_CLEAN_TOLERANCE:
                row["flags"].add(f"{attack} mAP above clean")
            if (m["eps"] >= LARGE_EPS and "random_map" in m
                    and m["map"] > m["random_map"] + NOT_RANDOM_MARGIN):
                row["flags"].add(f"{attack} not near random at eps {m['eps']:.4g}")
    if prefixes != [""]:  # image-text: rank by the mean of both directions' worst cases
        for r in rows.values():
            worst = [r.get(f"{p}worst-case mAP") for p in prefixes]
            if all(w is not None for w in worst):
                r["worst-case mAP"] = sum(worst) / len(worst)
    frame = pd.DataFrame([{**r, "flags": "; ".join(sorted(r["flags"]))} for r in rows.values()])
    clean_cols = [f"{p}clean mAP" for p in prefixes]
    rank_key = "worst-case mAP" if "worst-case mAP" in frame else clean_cols[0]
    frame = frame.sort_values([rank_key, "model", "defense"], ascending=[False, True, True],
                              na_position="last", kind="mergesort")
    fixed = ["model", "defense", *clean_cols]
    metric_cols = sorted(c for c in frame.columns if c.endswith("mAP") and c not in fixed
                         and c != "worst-case mAP")
    tail = ["worst-case mAP"] if "worst-case mAP" in frame else []
    budget = ["eps", "text flips"] if "text flips" in frame else ["eps"]
    cols = fixed + metric_cols + tail + budget + ["steps", "third_party", "flags"]
    frame = frame[cols].reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def escape_markdown(text: str) -> str:
    """Inert in a Markdown table cell: HTML entities for <, >, &, backslash-escapes elsewhere."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape_markdown(value)


def board_markdown(board: Board) -> str:
    t = board.table
    title = escape_markdown(board.title)
    lines = [f"## {title}", "", "| " + " | ".join(escape_markdown(c) for c in t.columns) + " |",
             "|" + "---|" * len(t.columns)]
    for row in t.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_leaderboards(boards: list[Board], out_dir: Path) -> list[Path]:
    """``README.md`` and ``index.html`` (every board) and one CSV per board; returns the paths."""
    from hashbench.leaderboard_html import leaderboard_html

    out_dir = Path(out_dir)
    written = []
    parts = ["# hashbench leaderboard", "",
             "Generated by `hashbench report` from `results/`; do not edit by hand. Rows are "
             "ranked by the worst-case robust mAP (per query, the lowest AP over the suite's "
             "attacks). Image-text boards show I→T (image queries, text database; image "
             "attacks at eps) and T→I (text queries; text attacks flipping at most 'text flips' "
             "tags) side by side and rank by the mean of the two worst cases. Boards never mix "
             "protocols or suite versions.", ""]
    for board in boards:
        parts.append(board_markdown(board))
        csv_path = out_dir / f"{board.slug}.csv"
        atomic_write_bytes(csv_path, board.table.to_csv(index=False, float_format="%.6f")
                           .encode("utf-8"))
        written.append(csv_path)
    readme, page = out_dir / "README.md", out_dir / "index.html"
    atomic_write_bytes(readme, "\n".join(parts).encode("utf-8"))
    atomic_write_bytes(page, leaderboard_html(boards).encode("utf-8"))
    return [readme, page, *written]
