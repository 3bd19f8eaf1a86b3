"""``hashbench evaluate-queries``: adversarial queries made by any tool, checked against the
protocol and scored into a record marked external."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hashbench import cpu_kernels
from hashbench.commands.output import RichProgress, out, progress_bars
from hashbench.harness.external import external_cell, load_queries, score_external
from hashbench.harness.suites import load_suite
from hashbench.harness.work import CellWork, RunOptions


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
