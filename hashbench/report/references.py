"""The numbers papers report for cells a suite re-evaluates, beside hashbench's own.

``hashbench/suites/references/<suite>.csv`` holds them (see the README there): one row per
number, keyed by the cell in hashbench's names. A board of that suite gets a comparison table:
for each reference number whose model and defense the board has, hashbench's value of the same
column (mean over the row's seeds), the paper's and their difference.
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources

import pandas as pd

COLUMNS = ["model", "defense", "attack", "metric", "hashbench", "paper", "difference", "source"]


@lru_cache(maxsize=None)
def references(suite: str) -> pd.DataFrame | None:
    """The suite's reference numbers, or None when it has none."""
    path = resources.files("hashbench").joinpath(f"suites/references/{suite}.csv")
    if not path.is_file():
        return None
    return pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")))


def board_column(attack: str, metric: str) -> str:
    """The board column that holds a reference row's number."""
    if attack == "clean":
        return "clean mAP"
    return f"{attack} {'t-mAP' if metric == 't_map' else 'mAP'}"


def paper_comparison(board) -> pd.DataFrame | None:
    """Paper vs hashbench for ``board`` (None when no reference number meets one of its rows)."""
    refs = references(board.suite)
    if refs is None:
        return None
    here = refs[(refs["dataset"] == board.dataset) & (refs["bits"] == board.bits)]
    table = board.table.set_index(["model", "defense"])
    rows = []
    for ref in here.itertuples(index=False):
        key = (f"{ref.method}-{ref.backbone}", ref.defense)
        if key not in table.index:
            continue
        column = board_column(ref.attack, ref.metric)
        ours = table.at[key, column] if column in table.columns else None
        ours = None if ours is None or pd.isna(ours) else float(ours)
        rows.append({"model": key[0], "defense": ref.defense, "attack": ref.attack,
                     "metric": ref.metric, "hashbench": ours, "paper": float(ref.value),
                     "difference": None if ours is None else ours - float(ref.value),
                     "source": ref.source})
    return pd.DataFrame(rows, columns=COLUMNS) if rows else None
