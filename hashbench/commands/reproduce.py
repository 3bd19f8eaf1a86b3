"""``hashbench reproduce``: published cells recomputed from scratch and compared, metric by
metric, with the published values."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hashbench import cpu_kernels
from hashbench.commands.output import FiniteFloat, RichProgress, out, progress_bars, terminal_safe
from hashbench.harness.reproduce import compare, recompute
from hashbench.progress import Progress


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--scratch", type=click.Path(path_type=Path), default=None,
              help="folder for the recomputed records and models [default: a temporary folder]")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="reuse this model cache instead of training into the scratch folder "
              "(then only codes, attacks and metrics are recomputed)")
@click.option("--tolerance", type=FiniteFloat(min=0), default=None,
              help="largest |published - recomputed| that counts as reproduced [default: 0 for "
              "records of a suite fixing threads = 1 and generators = \"cell\", else "
              "hashbench.harness.reproduce.TOLERANCE]")
@click.option("--jobs", type=click.IntRange(min=1, max=1024), default=None,
              help="worker processes computing cells side by side [default: the number of "
              "cores for records computed on one thread (their bytes do not depend on it), "
              "else 1]")
@click.option("--device", default="cpu", show_default=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA")
@click.option("--quiet", is_flag=True, help="no progress lines; the comparison table only")
def reproduce(paths, scratch, cache_dir, tolerance, jobs, device, data_root, quiet):
    """Recompute the cells of published records (files, folders or a suite's results) from
    scratch and compare their metrics with the published values."""
    cpu_kernels.require_pinned()  # records are computed with the protocol's kernels only
    with progress_bars(quiet) as bar:
        done = recompute(list(paths), scratch, cache_dir, tolerance, jobs, device, data_root,
                         Progress() if quiet else RichProgress(bar))
    tolerance, scratch = done.tolerance, done.scratch
    cells = done.rows
    table = Table(title=f"reproduce: {len(cells)} cells, tolerance {tolerance:g}")
    for col in ("record", "metric", "published", "recomputed", "|diff|", "result"):
        table.add_column(col, overflow="fold")
    bad = 0

    def fmt(v):
        return "" if v is None else f"{v:.6f}"

    for path, published, recomputed in cells:
        if recomputed is None or recomputed["status"] != "ok":
            why = "dataset unavailable" if recomputed is None else recomputed["error"]
            table.add_row(terminal_safe(str(path)), "-", "", "", "",
                          f"[red]not recomputed[/]: {terminal_safe(str(why))}")
            bad += 1
            continue
        for c in compare(published, recomputed, path):
            ok = c.matched(tolerance)
            bad += not ok
            table.add_row(terminal_safe(str(path)), c.metric, fmt(c.published), fmt(c.recomputed),
                          "" if c.difference is None else f"{c.difference:.2e}",
                          "[green]match[/]" if ok else "[red]DIFFERS[/]")
    (out if out.is_terminal else Console(width=200, soft_wrap=True)).print(table)
    out.print(f"{len(cells)} cells recomputed into {scratch / 'results'}: "
              f"{'all metrics within' if not bad else f'{bad} metrics outside'} {tolerance:g}")
    if bad:
        sys.exit(1)
