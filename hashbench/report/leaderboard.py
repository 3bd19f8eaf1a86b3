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

from hashbench.records.intervals import seed_ci
from hashbench.records.io import atomic_write_bytes, iter_record_paths, load_record
from hashbench.records.types import ABSENT, BLACKBOX_WORST_CASE, CLEAN, WORST_CASE, Record
from hashbench.report.flags import (  # noqa: F401 - the thresholds, named where they are used
    ABOVE_CLEAN_TOLERANCE,
    LARGE_EPS,
    NOT_CONVERGED_MARGIN,
    NOT_RANDOM_MARGIN,
    RECORD_FLAGS,
    flag_foreign_parents,
)
from hashbench.report.html import SiteLinks, current_first, leaderboard_html, shown_value
from hashbench.report.legend import BLACKBOX_COLUMN, DROP_COLUMN, board_legend
from hashbench.report.ranking import Requirement, inferred, seed_kind, shortfall
from hashbench.report.references import paper_comparison
from hashbench.text import visible


@dataclass(frozen=True)
class Board:
    suite: str
    suite_version: int
    protocol: str
    bits: int
    eps: float
    table: pd.DataFrame
    dataset: str = ""  # the protocol's dataset (its records'), for reference numbers
    blackbox_members: frozenset[str] = frozenset()  # attacks behind its black-box worst case

    @property
    def slug(self) -> str:
        return slug(f"{self.suite}-v{self.suite_version}_{self.protocol}_{self.bits}b_"
                    f"eps{self.eps:.4g}")

    @property
    def floor(self) -> float | None:
        """The mAP of a random ranking of this board's queries (the same for every row)."""
        if "floor" not in self.table:
            return None
        values = self.table["floor"].dropna()
        return float(values.mean()) if len(values) else None

    @property
    def legend(self) -> str:
        return board_legend(self.floor, self.table.columns)

    @property
    def title(self) -> str:
        return (f"{self.suite} v{self.suite_version} · {self.protocol} · {self.bits} bits · "
                f"eps {self.eps:.4g}")


def slug(text: str) -> str:
    """A file-name-safe form of any string (names from records included)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip(".") or "-"


def load_records(results_dir: Path) -> list[tuple[Path, Record]]:
    """Every record under ``results_dir`` with its path, typed; a malformed one raises the
    validator's message (nothing is rendered from a half-valid tree)."""
    return [(p, Record.from_dict(load_record(p), str(p)))
            for p in iter_record_paths([Path(results_dir)])]


def row_key(rec: Record) -> tuple[str, str]:
    m = rec.model
    return (f"{m.method}-{m.backbone}", m.defense.name)


def group_key(rec: Record) -> tuple[str, int, str, int]:
    """Records are only compared with records sharing this key (one board per eps within it)."""
    return (rec.suite.name, rec.suite.version, rec.dataset.protocol, rec.model.bits)


def board_key(rec: Record) -> tuple[str, int, str, int, float]:
    return (*group_key(rec), float(rec.metrics.eps))


def build_boards(records: list[Record | dict], requirements=None,
                 origins: dict[int, str] | None = None,
                 published: set[int] | None = None) -> list[Board]:
    """The boards of ``records`` (typed, or the JSON objects of records). ``requirements``
    maps (suite, version, dataset) to what a ranked row must cover, (seeds, {direction prefix:
    attacks}) (``hashbench.harness.published``); a board it does not know requires what its
    most complete rows cover. ``origins`` maps ``id(record)`` to the results folder a record
    came from when it is not the first one given: its row says so in a ``from`` column.
    ``published`` holds the ``id`` of every record whose bytes are a published record's (the
    report decides it by hash, ``report.provenance``): a row is first-party only when all its
    records are (and none says it is third-party); without it (boards of records in memory)
    the records' own claims are taken."""
    groups: dict[tuple, list[Record]] = {}
    newest: dict[str, int] = {}
    typed = [Record.from_dict(r) if isinstance(r, dict) else r for r in records]
    for rec in typed:
        groups.setdefault(board_key(rec), []).append(rec)
        name = rec.suite.name
        newest[name] = max(newest.get(name, 0), rec.suite.version)
    boards = []
    for key, recs in sorted(groups.items()):
        found = (requirements or {}).get((key[0], key[1], recs[0].dataset.name))
        need = Requirement(*found) if found else None
        suite, version, protocol, bits, eps = key
        boards.append(Board(suite, version, protocol, bits, eps,
                            _table(recs, outdated=version < newest[suite], need=need,
                                   origins=origins or {}, published=published),
                            recs[0].dataset.name, _blackbox_members(recs)))
    return boards


def _blackbox_members(recs: list[Record]) -> frozenset[str]:
    """The attacks the board's black-box worst-case records take the minimum over."""
    return frozenset(a for rec in recs if rec.ok and rec.attack_name == BLACKBOX_WORST_CASE
                     for a in (rec.metrics.worst_case_of or ()))


# Image-text records carry a direction; their columns are prefixed with it.
DIRECTION_PREFIX = {None: "", "i2t": "I→T ", "t2i": "T→I "}


def _table(records: list[Record], outdated: bool = False, need: Requirement | None = None,
           origins: dict[int, str] | None = None, published: set[int] | None = None
           ) -> pd.DataFrame:
    """One row per model + defense: each metric the mean over the row's seeds, the headline with
    a 95% interval (t over seeds, or the record's bootstrap over queries for one seed), ranks
    shared by rows whose intervals overlap, collapsed models listed after the ranked ones."""
    rows = _rows(records, outdated, origins or {}, published)
    directions = sorted({r.metrics.direction or "" for r in records})
    prefixes = [DIRECTION_PREFIX[d or None] for d in directions]
    flag_foreign_parents(rows)
    return _frame(rows, prefixes, need or inferred(list(rows.values())))


def _rows(records: list[Record], outdated: bool, origins: dict[int, str],
          published: set[int] | None) -> dict[tuple, dict]:
    """Each row's values and intervals per seed (and direction), its checkpoints, coverage,
    flags and origins, gathered from its records."""
    rows: dict[tuple, dict] = {}
    for rec in sorted(records, key=lambda r: (row_key(r), r.attack_name)):
        model, defense = row_key(rec)
        m = rec.metrics
        pre = DIRECTION_PREFIX[m.direction or None]
        row = rows.setdefault((model, defense), {
            "model": model, "defense": defense, "third_party": False,
            "eps": m.eps, "steps": None, "floor": None,
            "flags": {"older suite version"} if outdated else set(),
            "values": {}, "cis": {}, "checkpoints": {}, "parents": {}, "covered": {},
            "declared": {},
            "from": set(),
        })
        seed = rec.seed
        if id(rec) in origins:
            row["from"].add(origins[id(rec)])
        values, cis = row["values"].setdefault(seed, {}), row["cis"].setdefault(seed, {})
        if m.text_flips is not ABSENT:
            row["text flips"] = m.text_flips
        # a record's claim can only make its row third-party, never first-party
        row["third_party"] |= bool(rec.model.defense.third_party) or \
            (published is not None and id(rec) not in published)
        row["flags"].update(f for rule in RECORD_FLAGS if (f := rule(rec, pre)))
        attack = rec.attack_name
        if not rec.ok:
            continue
        sha = rec.model.checkpoint_sha256
        if sha:  # every cell of a row (per seed and direction) must measure one checkpoint
            row["checkpoints"].setdefault((seed, pre), set()).add(sha)
        if "trained_seed" in rec.model.defense.params:  # a handed-in model's declaration
            row["declared"][seed] = rec.model.defense.params["trained_seed"]
        if rec.model.parent_checkpoint_sha256:
            row["parents"].setdefault(seed, set()).add(rec.model.parent_checkpoint_sha256)
        values[f"{pre}clean mAP"] = m.clean_map
        cis[f"{pre}clean mAP"] = m.clean_map_ci95 or None
        if m.random_map is not ABSENT and m.random_map is not None:
            row["floor"] = m.random_map
        if rec.scale != 1:  # a convergence check's run: its worst case reports what it found
            continue
        if attack == WORST_CASE:
            row["covered"][(seed, pre)] = set(m.worst_case_of or ())
            values[f"{pre}worst-case mAP"] = m.map
            cis[f"{pre}worst-case mAP"] = m.map_ci95 or None
            if m.convergence is not ABSENT:
                values[f"{pre}{DROP_COLUMN}"] = m.convergence.drop
        elif attack == BLACKBOX_WORST_CASE:
            values[f"{pre}{BLACKBOX_COLUMN}"] = m.map
        elif attack != CLEAN:
            if m.t_map is not ABSENT:
                values[f"{pre}{attack} t-mAP"] = m.t_map
            values[f"{pre}{attack} mAP"] = m.map
            steps = rec.attack.params.get("steps") if rec.attack else None
            if steps is not None:
                row["steps"] = steps if row["steps"] in (None, steps) else "mixed"
    return rows


def _frame(rows: dict[tuple, dict], prefixes: list[str], need) -> pd.DataFrame:
    """The board's frame: rows summarised, ranked (ranked rows, then collapsed models, then
    provisional entries) and its columns in the board's order."""
    clean_cols = [f"{p}clean mAP" for p in prefixes]
    out = []
    for r in rows.values():
        interval, why = seed_kind(r["checkpoints"], r["defense"], r["declared"])
        lacks = "; ".join(p for p in (shortfall(r["covered"], need), why) if p)
        out.append(_summarise(r, prefixes, clean_cols) |
                   {"interval": interval, "provisional": lacks})
    frame = pd.DataFrame(out)
    rank_key = "worst-case mAP" if "worst-case mAP" in frame else clean_cols[0]
    frame["_collapsed"] = frame["flags"].str.contains("of random ranking", regex=False)
    # ranked rows first, then collapsed models, then provisional entries (each unranked)
    frame["_apart"] = frame["_collapsed"].astype(int) + 2 * (frame["provisional"] != "")
    frame = frame.sort_values(["_apart", rank_key, "model", "defense"],
                              ascending=[True, False, True, True], na_position="last",
                              kind="mergesort").reset_index(drop=True)
    frame.insert(0, "rank", pd.Series(_rank_bands(frame, rank_key), dtype=object))
    fixed = ["rank", "model", "defense", *clean_cols]
    blackbox = [c for c in frame.columns if c.endswith(BLACKBOX_COLUMN)]
    metric_cols = sorted(c for c in frame.columns if c.endswith("mAP") and c not in fixed
                         and c != "worst-case mAP" and c not in blackbox)
    tail = (["worst-case mAP", "worst-case CI low", "worst-case CI high"]
            if "worst-case mAP" in frame else [])
    tail += sorted(c for c in frame.columns if c.endswith(DROP_COLUMN))
    # the black-box track beside the white-box headline: what an operator of a deployed
    # system (rankings only) faces
    tail = sorted(blackbox) + tail
    budget = ["eps", "text flips"] if "text flips" in frame else ["eps"]
    mine = ["from"] if any(row["from"] for row in rows.values()) else []
    cols = fixed + metric_cols + tail + ["floor", "seeds", "interval"] + budget + [
        "steps", "third_party", *mine, "provisional", "flags"]
    return frame[cols]


def _summarise(row: dict, prefixes: list[str], clean_cols: list[str]) -> dict:
    """The displayed row: means over seeds, the headline interval, flags."""
    seeds = sorted(row["values"])
    per_seed = [row["values"][s] for s in seeds]
    if prefixes != [""]:  # image-text: the headline is the mean of both directions' worst cases
        for s, vals in zip(seeds, per_seed):
            worst = [vals.get(f"{p}worst-case mAP") for p in prefixes]
            if all(w is not None for w in worst):
                vals["worst-case mAP"] = sum(worst) / len(worst)
                bounds = [row["cis"][s].get(f"{p}worst-case mAP") for p in prefixes]
                # the mean of two per-direction bootstrap bounds: an approximate interval
                if all(b is not None for b in bounds):
                    row["cis"][s]["worst-case mAP"] = [sum(b[i] for b in bounds) / len(bounds)
                                                       for i in (0, 1)]
    out = {k: row[k] for k in ("model", "defense", "third_party", "eps", "steps", "floor")}
    out["from"] = ", ".join(sorted(row["from"]))
    if "text flips" in row:
        out["text flips"] = row["text flips"]
    out["seeds"] = len(seeds)
    for col in sorted({c for vals in per_seed for c in vals}):
        got = [vals[col] for vals in per_seed if col in vals]
        out[col] = sum(got) / len(got)
    for col in clean_cols:
        out.setdefault(col, None)
    flags = set(row["flags"])
    worst = [vals["worst-case mAP"] for vals in per_seed if "worst-case mAP" in vals]
    if worst:
        low: float | None
        high: float | None
        if len(worst) >= 2:
            low, high = seed_ci(worst)
        else:
            ci = row["cis"][seeds[[("worst-case mAP" in v) for v in per_seed].index(True)]].get(
                "worst-case mAP")
            low, high = (ci[0], ci[1]) if ci else (None, None)  # records older: none
        out["worst-case CI low"], out["worst-case CI high"] = low, high
    floor = row["floor"]
    if floor is not None:
        for col in clean_cols:
            if out[col] is not None and out[col] < floor + NOT_RANDOM_MARGIN:
                # robust mAP of a model that retrieves at chance says nothing about robustness
                flags.add(f"{col} within {NOT_RANDOM_MARGIN} of random ranking")
        if worst and out["worst-case mAP"] < floor:
            flags.add("worst case below the random floor")
    if any(len(shas) > 1 for shas in row["checkpoints"].values()):
        flags.add("cells computed on different checkpoints")
    out["flags"] = "; ".join(sorted(flags))
    return out


def _rank_bands(frame: pd.DataFrame, key: str) -> list:
    """Rank = 1 + the number of ranked rows whose interval lies wholly above this row's (rows
    whose intervals overlap share a rank); collapsed rows get none."""
    low = frame.get("worst-case CI low", frame[key]).fillna(frame[key])
    high = frame.get("worst-case CI high", frame[key]).fillna(frame[key])
    ranked = (frame["_apart"] == 0) & frame[key].notna()
    ranks: list = []
    for i in range(len(frame)):
        if not ranked[i]:
            ranks.append(None)
            continue
        ranks.append(1 + int((ranked & (low > high[i])).sum()))
    return ranks


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def escape_markdown(text: str) -> str:
    """Inert in a Markdown table cell: HTML entities for <, >, &, backslash-escapes elsewhere."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", " ").replace("\n", " ")
    text = visible(text)  # escape sequences would reach whoever cats the file
    return _MD_SPECIAL.sub(r"\\\1", text)


def _cell(value) -> str:
    text = shown_value(value)
    return text if isinstance(value, float) else escape_markdown(text)  # a number stays one


def board_markdown(board: Board) -> str:
    return table_markdown(board.title, board.table, 2, board.legend)


def table_markdown(title: str, t: pd.DataFrame, level: int, legend: str | None = None) -> str:
    lines = [f"{'#' * level} {escape_markdown(title)}", ""]
    if legend:
        lines += [escape_markdown(legend), ""]
    lines += ["| " + " | ".join(escape_markdown(c) for c in t.columns) + " |",
              "|" + "---|" * len(t.columns)]
    for row in t.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The table with control and bidi characters removed from every text cell, and every text
    cell that a spreadsheet would run as a formula (starting with = + - @, tab or CR: OWASP's
    CSV-injection list) prefixed with a quote, so it stays text."""
    out = table.copy()
    for col in out.columns:
        values = list(out[col])
        if not any(isinstance(v, str) for v in values):
            continue
        # control and bidi characters out first: one could hide a formula's leading "="
        values = [visible(v) if isinstance(v, str) else v for v in values]
        out[col] = pd.Series([f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START)
                              else v for v in values], index=out.index, dtype=object)
    return out


def write_leaderboards(boards: list[Board], out_dir: Path,
                       site: SiteLinks | None = None) -> list[Path]:
    """``README.md`` and ``index.html`` (every board, current suite versions first; with
    ``site``, each row's model card links its records and figures) and one CSV per board;
    returns the paths."""
    out_dir = Path(out_dir)
    written = []
    parts = ["# hashbench leaderboard", "",
             "Generated by `hashbench report` from result records; do not edit by hand. Rows "
             "are ranked by the worst-case robust mAP (per query, the lowest AP over the "
             "suite's attacks); a row whose worst case covers fewer than the suite's attacks or "
             "seeds is provisional, unranked. Image-text boards show I→T (image queries, text "
             "database; image attacks at eps) and T→I (text queries; text attacks flipping at "
             "most 'text flips' tags) side by side and rank by the mean of the two worst "
             "cases. Boards never mix protocols or suite versions; each suite's newest version "
             "comes first, older ones after it.", ""]
    for board in current_first(boards):
        parts.append(board_markdown(board))
        tables = {board.slug: board.table}
        papers = paper_comparison(board)
        if papers is not None:  # the papers' numbers for the cells this board re-evaluates
            parts.append(table_markdown(f"{board.title} · paper vs hashbench", papers, 3))
            tables[f"{board.slug}_paper"] = papers
        for name, table in tables.items():
            csv_path = out_dir / f"{name}.csv"
            atomic_write_bytes(csv_path, csv_safe(table).to_csv(index=False, float_format="%.6f")
                               .encode("utf-8"))
            written.append(csv_path)
    readme, page = out_dir / "README.md", out_dir / "index.html"
    atomic_write_bytes(readme, "\n".join(parts).encode("utf-8"))
    atomic_write_bytes(page, leaderboard_html(boards, site).encode("utf-8"))
    return [readme, page, *written]
