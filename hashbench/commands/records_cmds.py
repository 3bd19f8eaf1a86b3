"""``hashbench validate``, ``reproduce`` and ``evaluate-queries``: commands over records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hashbench import cpu_kernels
from hashbench.commands.output import (
    FiniteFloat,
    RichProgress,
    console,
    out,
    progress_bars,
    terminal_safe,
)
from hashbench.errors import HashbenchError


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths):
    """Check result records (files or folders) against the result schema."""
    from hashbench.records.io import iter_record_paths, load_record, sidecar_bytes

    bad = 0
    n = 0
    for p in iter_record_paths(list(paths)):
        n += 1
        try:
            rec = load_record(p)
            if rec["sidecar"]:  # present, beside the record, and the bytes the record names
                sidecar_bytes(p, rec)
        except HashbenchError as err:
            bad += 1
            out.print(f"[red]invalid[/] {terminal_safe(str(err))}")
    out.print(f"{n - bad} valid, {bad} invalid")
    if bad or n == 0:
        if n == 0:
            console.print("no *.json records found under the given paths")
        sys.exit(1)


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
def reproduce(paths, scratch, cache_dir, tolerance, jobs, device, data_root):
    """Recompute the cells of published records (files, folders or a suite's results) from
    scratch and compare their metrics with the published values."""
    from hashbench.harness.reproduce import compare, recompute

    cpu_kernels.require_pinned()  # records are computed with the protocol's kernels only
    with progress_bars() as bar:
        done = recompute(list(paths), scratch, cache_dir, tolerance, jobs, device, data_root,
                         RichProgress(bar))
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


@click.command("evaluate-queries")
@click.option("--suite", "suite_name", required=True, help="package suite name or a TOML file")
@click.option("--dataset", required=True)
@click.option("--defense", required=True, help="the defended model to score against")
@click.option("--model", "model_id", default=None, help="METHOD-BACKBONE-BITSb, when the "
              "suite holds several")
@click.option("--queries", "queries_path", type=click.Path(path_type=Path), required=True,
              help="torch file holding one float tensor (N, C, H, W): the first N queries, "
              "perturbed")
@click.option("--name", required=True, help="name of the external attack ([a-z0-9_-]+)")
@click.option("--targeted", is_flag=True, help="also score t-mAP against the protocol's targets")
@click.option("--results", "results_dir", type=click.Path(path_type=Path),
              default=Path("hashbench-results"), show_default=True,
              help="where the record goes (the default is ignored by git: scoring never dirties "
              "a checkout)")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              default=Path(".hashbench-cache"), show_default=True, envvar="HASHBENCH_CACHE")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA")
@click.option("--device", default="auto", show_default=True)
def evaluate_queries(suite_name, dataset, defense, model_id, queries_path, name, targeted,
                     results_dir, cache_dir, data_root, device):
    """Check and score adversarial queries made by any tool; write a record marked external."""
    from hashbench.harness.external import external_cell, load_queries, score_external
    from hashbench.harness.suites import load_suite
    from hashbench.harness.work import CellWork, RunOptions

    cpu_kernels.require_pinned()  # records are computed with the protocol's kernels only
    cell = external_cell(load_suite(suite_name), dataset, defense, model_id)
    adv, sha256 = load_queries(queries_path)
    with progress_bars() as bar:
        work = CellWork(RunOptions(results_dir=results_dir, cache_dir=cache_dir, device=device,
                                   data_root=data_root),
                        RichProgress(bar))
        path = score_external(work, cell, adv, name, queries_path, sha256, targeted)
    rec = json.loads(path.read_text())
    m = rec["metrics"]
    out.print(f"external {name}: clean mAP {m['clean_map']:.4f} -> mAP {m['map']:.4f}"
              + (f", t-mAP {m['t_map']:.4f}" if "t_map" in m else "")
              + f" on {rec['cell']['queries']} queries; wrote {path}")


