"""``hashbench run``: options, the run, what it prints."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from hashbench.commands.output import (
    FiniteFloat,
    RichProgress,
    console,
    out,
    progress_bars,
    terminal_safe,
)
from hashbench.errors import HashbenchError
from hashbench.harness.suites import MAX_CELL_TIMEOUT, MAX_SEED
from hashbench.progress import Progress
from hashbench.suite_run import EXECUTORS


@click.command()
@click.option("--suite", "suite_name", required=True, help="package suite name or a TOML file")
@click.option("--only", multiple=True, help="keep cells matching KEY=V1[,V2] (repeatable)")
@click.option("--exclude", multiple=True, help="drop cells matching KEY=V1[,V2] (repeatable)")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=None,
              help="run this root seed only (a seed other than the suite file's writes to "
              "seed<N>/ folders, never over another seed's records)")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=None,
              help="where records go [default: results/ for a package suite as published, "
              "hashbench-results/ (ignored by git) when --add-defense/--add-attack or a suite "
              "file is given: a user's rows never dirty the checkout]")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              default=Path(".hashbench-cache"), show_default=True, envvar="HASHBENCH_CACHE")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="folder holding the literature datasets")
@click.option("--force", is_flag=True, help="recompute finished cells")
@click.option("--download", is_flag=True, help="first download the suite's datasets that are "
              "absent and downloadable (cifar10, fashion_mnist) into --data-root")
@click.option("--fail-fast", is_flag=True, help="stop at the first failed cell")
@click.option("--cell-timeout", type=FiniteFloat(min=0, max=MAX_CELL_TIMEOUT), default=None, metavar="SECONDS",
              help="fail a cell (its model's training included) that runs longer; 0: no limit "
              "[default: the suite's cell_timeout, 3600 when it sets none]")
@click.option("--add-defense", "add_defenses", multiple=True, metavar="NAME",
              help="also evaluate this registered defense in every group, trained with the "
              "suite's recipe (repeatable)")
@click.option("--add-attack", "add_attacks", multiple=True, metavar="NAME",
              help="also run this registered attack in every group: its own column, outside "
              "the worst case (repeatable)")
@click.option("--defense-param", "defense_overrides", multiple=True, metavar="NAME.KEY=VALUE",
              help="a parameter of an added defense (VALUE in TOML: 8, 1e-3, \"adam\", true)")
@click.option("--attack-param", "attack_overrides", multiple=True, metavar="NAME.KEY=VALUE",
              help="a parameter of an added attack")
@click.option("--allow-dirty", is_flag=True, help="write into a suite's shipped results folder "
              "from a checkout with uncommitted changes (its records are flagged on the board)")
@click.option("--no-zoo", is_flag=True, help="train every model, even one the model zoo "
              "publishes (by default a model whose cache key the zoo holds is taken from it, "
              "sha256-checked)")
@click.option("--amp", is_flag=True, help="mixed-precision training (fp16 on CUDA, bf16 on CPU); "
              "attacks stay fp32; records say so and the leaderboard flags them")
@click.option("--quiet", is_flag=True, help="no progress and no summary table; errors and the "
              "one-line result only")
@click.option("--json", "as_json", is_flag=True, help="print what the run did as JSON on stdout")
@click.option("--jobs", type=click.IntRange(min=1, max=1024), default=None,
              help="local: cells computed by this many worker processes, one torch thread "
              "each [default: the number of cores for a suite that fixes threads = 1 (the same "
              "bytes on any machine), else 1: this process]")
@click.option("--threads", type=click.IntRange(min=1, max=1024), default=None,
              help="torch (and numba) threads for the whole run [default: $OMP_NUM_THREADS "
              "if set, else torch's own; a suite that fixes threads = 1 keeps it]")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local",
              show_default=True, help="where cells run: this process, or Ray tasks "
              "(pip install 'hashbench[ray]')")
@click.option("--address", default=None, help="ray: cluster address (auto, HOST:PORT); "
              "default: start a local Ray instance")
@click.option("--gpus-per-cell", type=FiniteFloat(min=0, max=1024), default=None,
              help="ray: GPUs per task [default: 1 when the run uses CUDA, else 0]")
@click.option("--cpus-per-cell", type=FiniteFloat(min=1, max=1024), default=1.0, show_default=True,
              help="ray: CPUs per task, also its torch threads (CPU numbers match a local run "
              "with as many threads)")
@click.option("--max-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="ray: retries of a task whose worker died")
def run(suite_name, only, exclude, device, seed, results_dir, cache_dir, data_root, force,
        download, fail_fast, cell_timeout, add_defenses, add_attacks, defense_overrides, attack_overrides,
        allow_dirty, no_zoo, amp, quiet, as_json, jobs, threads, executor, address,
        gpus_per_cell, cpus_per_cell, max_retries):
    """Run a suite: train (or load) models, attack them, write one record per cell."""
    from hashbench.harness.work import RunOptions, resolve_device
    from hashbench.suite_run import plan_suite, run_suite

    d_params = parse_overrides(defense_overrides, "--defense-param", add_defenses, "--add-defense")
    a_params = parse_overrides(attack_overrides, "--attack-param", add_attacks, "--add-attack")
    if download:
        _, _, cells = plan_suite(suite_name, only=only, exclude=exclude, seed=seed,
                                 add_defenses=add_defenses, add_attacks=add_attacks,
                                 defense_params=d_params, attack_params=a_params)
        fetch_absent({c.dataset for c in cells}, data_root)
    options = RunOptions(cache_dir=cache_dir, device=device, force=force, fail_fast=fail_fast,
                         data_root=data_root, amp=amp, cell_timeout=cell_timeout,
                         zoo=not no_zoo, threads=threads)
    if amp and resolve_device(device).type == "cpu":
        console.print("[yellow]note:[/] --amp on the CPU trains in bf16, which is several times "
                      "slower than fp32 without bf16 hardware; it is meant for CUDA")
    with progress_bars(quiet or as_json) as bar:
        progress = Progress() if quiet or as_json else RichProgress(bar)
        done = run_suite(
            suite_name, only=only, exclude=exclude, seed=seed, results=results_dir,
            add_defenses=add_defenses, add_attacks=add_attacks, defense_params=d_params,
            attack_params=a_params, allow_dirty=allow_dirty, options=options, jobs=jobs,
            executor=executor, executor_options=dict(
                address=address, gpus_per_cell=gpus_per_cell, cpus_per_cell=cpus_per_cell,
                max_retries=max_retries),
            progress=progress,
            notes=lambda line: console.print(f"[yellow]note:[/] {terminal_safe(line)}"))
    print_summary(done, quiet, as_json)


def print_summary(done, quiet: bool, as_json: bool) -> None:
    """What the run did: skipped datasets, the per-model table (or JSON), the one-line result
    and every failure (exit 1 when a cell failed)."""
    summary, suite, results_dir = done.summary, done.suite, done.results_dir
    nothing = summary.unavailable and not (summary.written or summary.skipped or summary.failed)
    for name, why in summary.unavailable.items():
        if nothing:  # no data at all: nothing was done, and the run says so
            console.print(f"[red]error:[/] dataset {terminal_safe(name)} is not in place: "
                          f"{terminal_safe(why)}", highlight=False, soft_wrap=True)
        else:
            console.print(f"[yellow]skipped dataset {terminal_safe(name)}:[/] "
                          f"{terminal_safe(why)}", soft_wrap=True)
    if nothing:
        sys.exit(2)
    if as_json:
        out.print_json(data={
            "suite": suite.name, "version": suite.version, "results": str(results_dir),
            "computed": [str(p) for p in summary.written],
            "finished": [str(p) for p in summary.skipped],
            "failed": [{"record": str(p), "error": e} for p, e in summary.failed],
            "skipped_datasets": summary.unavailable, "trained_models": summary.trained_models,
            "from_zoo": summary.from_zoo})
    elif not quiet and (summary.written or summary.failed):
        console.print(summary_table(summary, results_dir))
    console.print(
        f"suite {suite.name} v{suite.version}: {len(summary.written)} cells computed, "
        f"{len(summary.skipped)} already finished, {len(summary.failed)} failed, "
        f"{summary.trained_models} models trained; results in {results_dir}"
    )
    for root, n in sorted(summary.from_zoo.items()):
        console.print(f"{n} model{'s' if n != 1 else ''} taken from the zoo at "
                      f"{terminal_safe(root)} (sha256-checked against the published records)")
    if summary.failed:
        for path, err in summary.failed:
            console.print(f"[red]failed[/] {terminal_safe(str(path))}: {terminal_safe(err)}")
        sys.exit(1)


def fetch_absent(datasets, data_root) -> None:
    """Download the datasets among ``datasets`` that are downloadable and not in place."""
    from hashbench.data import load_dataset
    from hashbench.data.download import download, sources
    from hashbench.errors import DataMissing

    for name in sorted(set(datasets) & set(sources())):
        try:
            load_dataset(name, data_root)
        except DataMissing:
            with progress_bars() as bar:
                download(name, data_root, RichProgress(bar))


def summary_table(summary, results_dir: Path) -> Table:
    """Cells computed, finished already and failed, per dataset, model and defense."""
    counts: dict[tuple, list[int]] = {}
    for col, paths in enumerate((summary.written, summary.skipped,
                                 [p for p, _ in summary.failed])):
        for path in paths:
            try:
                parts = Path(path).relative_to(results_dir).parts
            except ValueError:
                parts = Path(path).parts[-5:]
            key = tuple(parts[1:4]) if len(parts) >= 4 else (str(path), "", "")
            counts.setdefault(key, [0, 0, 0])[col] += 1
    table = Table(title="this run")
    for name in ("dataset", "model", "defense", "computed", "finished", "failed"):
        table.add_column(name, justify="right" if name in ("computed", "finished", "failed")
                         else "left")
    for key in sorted(counts):
        done, kept, bad = counts[key]
        table.add_row(*(terminal_safe(k) for k in key), str(done), str(kept),
                      f"[red]{bad}[/]" if bad else "0")
    return table


def parse_overrides(items, flag: str, added, add_flag: str) -> dict[str, dict]:
    """``NAME.KEY=VALUE`` items (VALUE a TOML literal, else a string) by plugin name; only the
    plugins added on this command line take them (a suite's own plugins are its protocol)."""
    import tomllib

    out: dict[str, dict] = {}
    for item in items:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not name or not key:
            raise HashbenchError(f"{flag} {item!r}: write NAME.KEY=VALUE, e.g. {flag} cgat.epochs=8")
        if name not in added:
            raise HashbenchError(f"{flag} {item!r}: '{name}' is not added with {add_flag}; the "
                                 "suite's own plugins keep the suite's parameters (edit a copy "
                                 "of the suite under another name to change them)")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        out.setdefault(name, {})[key] = parsed
    return out


