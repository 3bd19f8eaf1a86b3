"""The ``hashbench`` command. The library computes; this module talks (rich output only here)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.table import Table

from hashbench import __version__
from hashbench.errors import HashbenchError, one_line
from hashbench.executor import EXECUTORS
from hashbench.progress import Progress

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class RichProgress(Progress):
    """Draws one bar per running task (matrix, training, attack), with its ETA. Where stderr is
    not a terminal (a log file, CI) bars are not drawn; instead a plain line per task every
    ``PLAIN_EVERY_S`` seconds ($HASHBENCH_LOG_EVERY), and one when the run ends, say where the
    work stands."""

    PLAIN_EVERY_S = 30.0

    def __init__(self, bar: RichBar):
        import os

        self.bar, self.tasks = bar, {}
        self.every = float(os.environ.get("HASHBENCH_LOG_EVERY", self.PLAIN_EVERY_S))
        self.plain = not bar.console.is_terminal
        self._plain: dict[str, list] = {}  # task -> [description, done, total, last print]

    def start(self, task, total=None, description=""):
        self.tasks[task] = self.bar.add_task(description or task, total=total, info="")
        if self.plain:
            self._plain[task] = [description or task, 0, total, time.monotonic()]

    def advance(self, task, steps=1, **info):
        if task in self.tasks:
            extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in info.items())
            self.bar.update(self.tasks[task], advance=steps, info=extra)
        if task in self._plain:
            state = self._plain[task]
            state[1] += steps
            if time.monotonic() - state[3] >= self.every:
                state[3] = time.monotonic()
                self._line(state, extra if task in self.tasks else "")

    def finish(self, task):
        if task in self.tasks:
            self.bar.remove_task(self.tasks.pop(task))
        if task in self._plain:
            state = self._plain.pop(task)
            if task == "matrix":
                self._line(state, "done")

    def _line(self, state, extra: str) -> None:
        desc, done, total, _ = state
        of = f"/{total}" if total else ""
        self.bar.console.print(f"{time.strftime('%H:%M:%S')} {terminal_safe(desc)}: "
                               f"{done}{of} {terminal_safe(extra)}", highlight=False)

    def log(self, message):
        self.bar.console.print(f"[yellow]{terminal_safe(str(message))}[/]")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """A name from a record as the terminal may show it: control characters (ANSI and OSC escape
    sequences start with one) removed and rich markup escaped, so it prints as plain text."""
    return escape(_CONTROL.sub("", text))


def _bar(hidden: bool = False) -> RichBar:
    return RichBar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"), console=console, transient=False,
                   disable=hidden or not console.is_terminal)


@click.group()
@click.version_option(__version__, prog_name="hashbench")
@click.option("--debug", is_flag=True, help="on an error, show the full traceback instead of one "
              "line (allowed anywhere on the command line)")
def cli(debug):
    """Adversarial robustness benchmark for deep-hashing retrieval."""


@cli.command("list")
def list_cmd():
    """List attacks, defenses, hashing methods, backbones, datasets and suites."""
    from hashbench.commands.listing import listing_tables

    for table in listing_tables():
        out.print(table)


@cli.command()
@click.option("--suite", "suite_name", required=True, help="package suite name or a TOML file")
@click.option("--only", multiple=True, help="keep cells matching KEY=V1[,V2] (repeatable)")
@click.option("--exclude", multiple=True, help="drop cells matching KEY=V1[,V2] (repeatable)")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="run this root seed only (a seed other than the suite file's writes to "
              "seed<N>/ folders, never over another seed's records)")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              default=Path(".hashbench-cache"), show_default=True, envvar="HASHBENCH_CACHE")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="folder holding the literature datasets")
@click.option("--force", is_flag=True, help="recompute finished cells")
@click.option("--download", is_flag=True, help="first download the suite's datasets that are "
              "absent and downloadable (cifar10, fashion_mnist) into --data-root")
@click.option("--fail-fast", is_flag=True, help="stop at the first failed cell")
@click.option("--cell-timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
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
@click.option("--amp", is_flag=True, help="mixed-precision training (fp16 on CUDA, bf16 on CPU); "
              "attacks stay fp32; records say so and the leaderboard flags them")
@click.option("--quiet", is_flag=True, help="no progress and no summary table; errors and the "
              "one-line result only")
@click.option("--json", "as_json", is_flag=True, help="print what the run did as JSON on stdout")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local",
              show_default=True, help="where cells run: this process, or Ray tasks "
              "(pip install 'hashbench[ray]')")
@click.option("--address", default=None, help="ray: cluster address (auto, HOST:PORT); "
              "default: start a local Ray instance")
@click.option("--gpus-per-cell", type=click.FloatRange(min=0), default=None,
              help="ray: GPUs per task [default: 1 when the run uses CUDA, else 0]")
@click.option("--cpus-per-cell", type=click.FloatRange(min=1), default=1.0, show_default=True,
              help="ray: CPUs per task, also its torch threads (CPU numbers match a local run "
              "with as many threads)")
@click.option("--max-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="ray: retries of a task whose worker died")
def run(suite_name, only, exclude, device, seed, results_dir, cache_dir, data_root, force,
        download, fail_fast, cell_timeout, add_defenses, add_attacks, defense_overrides, attack_overrides,
        allow_dirty, amp, quiet, as_json, executor, address, gpus_per_cell,
        cpus_per_cell, max_retries):
    """Run a suite: train (or load) models, attack them, write one record per cell."""
    from hashbench.cells import parse_filters, select, suite_folder
    from hashbench.executor import make_executor
    from hashbench.provenance import refuse_dirty_shipped_results
    from hashbench.runner import Runner, RunOptions, resolve_device
    from hashbench.suites import load_suite

    suite = load_suite(suite_name)
    if not allow_dirty:
        refuse_dirty_shipped_results(results_dir, suite_folder(suite.name, suite.version))
    d_params = parse_overrides(defense_overrides, "--defense-param", add_defenses, "--add-defense")
    a_params = parse_overrides(attack_overrides, "--attack-param", add_attacks, "--add-attack")
    if add_defenses:
        suite = suite.with_defenses(add_defenses, d_params)
    if add_attacks:
        suite = suite.with_attacks(add_attacks, a_params)
    if seed is not None:
        suite = suite.with_seed(seed)
    cells = select(suite.cells(), parse_filters(only), parse_filters(exclude))
    if not cells:
        raise HashbenchError(f"no cell of suite {suite.name} matches the --only/--exclude filters")
    if download:
        fetch_absent({c.dataset for c in cells}, data_root)
    options = RunOptions(results_dir, cache_dir, device, force, fail_fast, data_root, amp,
                         cell_timeout)
    if amp and resolve_device(device).type == "cpu":
        console.print("[yellow]note:[/] --amp on the CPU trains in bf16, which is several times "
                      "slower than fp32 without bf16 hardware; it is meant for CUDA")
    engine = make_executor(executor, address, gpus_per_cell, cpus_per_cell, max_retries)
    with _bar(quiet or as_json) as bar:
        progress = Progress() if quiet or as_json else RichProgress(bar)
        summary = Runner(options, progress).run(suite, cells, engine)
    for name, why in summary.unavailable.items():
        console.print(f"[yellow]skipped dataset {terminal_safe(name)}:[/] {terminal_safe(why)}")
    if as_json:
        out.print_json(data={
            "suite": suite.name, "version": suite.version, "results": str(results_dir),
            "computed": [str(p) for p in summary.written],
            "finished": [str(p) for p in summary.skipped],
            "failed": [{"record": str(p), "error": e} for p, e in summary.failed],
            "skipped_datasets": summary.unavailable, "trained_models": summary.trained_models})
    elif not quiet and (summary.written or summary.failed):
        console.print(summary_table(summary, results_dir))
    console.print(
        f"suite {suite.name} v{suite.version}: {len(summary.written)} cells computed, "
        f"{len(summary.skipped)} already finished, {len(summary.failed)} failed, "
        f"{summary.trained_models} models trained; results in {results_dir}"
    )
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
            with _bar() as bar:
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
    for col in ("dataset", "model", "defense", "computed", "finished", "failed"):
        table.add_column(col, justify="right" if col in ("computed", "finished", "failed")
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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths):
    """Check result records (files or folders) against the result schema."""
    from hashbench.records import iter_record_paths, load_record, sidecar_bytes

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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--scratch", type=click.Path(path_type=Path), default=None,
              help="folder for the recomputed records and models [default: a temporary folder]")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="reuse this model cache instead of training into the scratch folder "
              "(then only codes, attacks and metrics are recomputed)")
@click.option("--tolerance", type=click.FloatRange(min=0), default=None,
              help="largest |published - recomputed| that counts as reproduced "
              "[default: hashbench.reproduce.TOLERANCE]")
@click.option("--device", default="cpu", show_default=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA")
def reproduce(paths, scratch, cache_dir, tolerance, device, data_root):
    """Recompute the cells of published records (files, folders or a suite's results) from
    scratch and compare their metrics with the published values."""
    import tempfile

    from hashbench.records import load_record
    from hashbench.reproduce import TOLERANCE, compare, published_cells
    from hashbench.runner import Runner, RunOptions, RunSummary

    tolerance = TOLERANCE if tolerance is None else tolerance
    cells = published_cells(list(paths))
    if not cells:
        raise HashbenchError("no ok record under the given paths to reproduce")
    scratch = Path(scratch or tempfile.mkdtemp(prefix="hashbench-reproduce-"))
    options = RunOptions(scratch / "results", cache_dir or scratch / "cache", device, True, False,
                         data_root)
    summary, rows = RunSummary(), []
    with _bar() as bar:
        runner = Runner(options, RichProgress(bar))
        for path, _, cell in cells:
            item = runner.pending(cell, summary)
            if item is None:
                rows.append((path, None))
                continue
            runner.commit(item, runner.compute(item), summary)
            rows.append((path, load_record(item.path)))
    table = Table(title=f"reproduce: {len(cells)} cells, tolerance {tolerance:g}")
    for col in ("record", "metric", "published", "recomputed", "|diff|", "result"):
        table.add_column(col, overflow="fold")
    bad = 0

    def fmt(v):
        return "" if v is None else f"{v:.6f}"

    for (path, published, _), (_, recomputed) in zip(cells, rows):
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


@cli.command("evaluate-queries")
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
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              default=Path(".hashbench-cache"), show_default=True, envvar="HASHBENCH_CACHE")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA")
@click.option("--device", default="auto", show_default=True)
def evaluate_queries(suite_name, dataset, defense, model_id, queries_path, name, targeted,
                     results_dir, cache_dir, data_root, device):
    """Check and score adversarial queries made by any tool; write a record marked external."""
    from hashbench.external import external_cell, load_queries
    from hashbench.runner import Runner, RunOptions
    from hashbench.suites import load_suite

    cell = external_cell(load_suite(suite_name), dataset, defense, model_id)
    adv, sha256 = load_queries(queries_path)
    with _bar() as bar:
        runner = Runner(RunOptions(results_dir, cache_dir, device, False, False, data_root),
                        RichProgress(bar))
        path = runner.score_external(cell, adv, name, queries_path, sha256, targeted)
    rec = json.loads(path.read_text())
    m = rec["metrics"]
    out.print(f"external {name}: clean mAP {m['clean_map']:.4f} -> mAP {m['map']:.4f}"
              + (f", t-mAP {m['t_map']:.4f}" if "t_map" in m else "")
              + f" on {rec['cell']['queries']} queries; wrote {path}")


def plugin_checks(kind: str, cls) -> list:
    """The contract rules of one plugin class, for its kind and modality."""
    from hashbench.selfcheck import check_attack, check_defense
    from hashbench.selfcheck_crossmodal import (
        check_image_text_defense,
        check_method,
        check_text_attack,
    )

    if kind == "attack":
        return check_text_attack(cls) if cls.modality == "text" else check_attack(cls)
    if kind == "defense":
        return check_image_text_defense(cls) if cls.modality == "image-text" else \
            check_defense(cls)
    return check_method(cls)


@cli.command()
@click.option("--defense", "defense", default=None, help="registered defense name")
@click.option("--attack", "attack", default=None, help="registered attack name")
@click.option("--method", "method", default=None, help="registered image-text method name")
def selfcheck(defense, attack, method):
    """Check one plugin's contract on a slice of the embedded data (seconds): image and text
    attacks, image and image-text defenses, image-text hashing methods."""
    from hashbench.registry import attacks, defenses, methods

    given = [(r, n) for r, n in ((defenses, defense), (attacks, attack), (methods, method))
             if n is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --defense, --attack or --method NAME")
    registry, name = given[0]
    entry = registry.entry(name)
    cls = registry.get(name)
    with console.status(f"checking {registry.kind} {name}"):
        checks = plugin_checks(registry.kind, cls)
    table = Table(title=f"selfcheck {registry.kind} {name} ({entry.distribution} "
                        f"{entry.dist_version})")
    for col in ("rule", "result", "measured", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.rule, "[green]pass[/]" if c.passed else "[red]FAIL[/]", c.detail,
                      "" if c.passed else c.fix)
    out.print(table)
    failed = [c for c in checks if not c.passed]
    out.print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("leaderboard"),
              show_default=True)
@click.option("--no-plots", is_flag=True, help="tables only: skip the PR, P@N and t-SNE plots")
def report(results_dir, out_dir, no_plots):
    """Render leaderboards (Markdown, CSV, HTML) and plots from the result records."""
    from hashbench.errors import ResultError
    from hashbench.leaderboard import build_boards, load_records, write_leaderboards
    from hashbench.plots import write_plots

    if not Path(results_dir).is_dir():
        raise ResultError(f"{results_dir}: no results folder; run `hashbench run --suite NAME` "
                          "first or pass --results DIR")
    records = load_records(results_dir)
    boards = build_boards([rec for _, rec in records])
    if not boards:
        raise ResultError(f"{results_dir}: no result records to report")
    for board in boards:
        table = Table(title=terminal_safe(board.title))
        shown = [c for c in board.table.columns if c not in ("third_party", "flags")]
        for col in shown:
            table.add_column(col, justify="right" if col not in ("model", "defense") else "left")
        for row in board.table[shown].itertuples(index=False):
            table.add_row(*("" if v is None or v != v else f"{v:.3f}" if isinstance(v, float)
                            else terminal_safe(str(v)) for v in row))
        # a pipe or file gets the whole table; a terminal gets what fits its width
        (out if out.is_terminal else Console(width=200, soft_wrap=True)).print(table)
    if not no_plots:  # first, so that the page's detail views link the plots drawn
        with console.status("drawing PR, P@N and t-SNE plots"):
            plots = write_plots(records, out_dir)
        out.print(f"wrote {len(plots.written)} plot files under {Path(out_dir) / 'plots'}")
        for note in plots.notes:
            console.print(f"[yellow]{note}[/]")
    written = write_leaderboards(boards, out_dir, records)
    for path in written:
        out.print(f"wrote {path}")


@cli.command()
@click.option("--build", "build_from", type=click.Path(exists=True, file_okay=False,
              path_type=Path), default=None, metavar="RESULTS",
              help="add the checkpoints of RESULTS' clean records (taken from --cache, checked "
              "against each record's checkpoint_sha256) to the zoo")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path),
              default=Path(".hashbench-cache"), show_default=True, envvar="HASHBENCH_CACHE")
@click.option("--zoo", "zoo_dir", type=click.Path(path_type=Path), default=None,
              help="the zoo folder [default: $HASHBENCH_ZOO, else zoo/ of this checkout]")
def zoo(build_from, cache_dir, zoo_dir):
    """List the published models (hashbench.load_model loads them), or add to the zoo."""
    from hashbench.zoo import build_zoo, default_root, entries

    root = Path(zoo_dir or default_root())
    if build_from is not None:
        added = build_zoo(build_from, cache_dir, root)
        out.print(f"added {len(added)} checkpoints to {root}")
    table = Table(title=f"model zoo ({root})")
    for col in ("name", "seed", "clean mAP", "sha256", "record"):
        table.add_column(col, overflow="fold")
    for e in entries(root):
        table.add_row(terminal_safe(e.name), str(e.seed), f"{e.clean_map:.4f}", e.sha256[:12],
                      terminal_safe(e.record))
    (out if out.is_terminal else Console(width=200, soft_wrap=True)).print(table)


@cli.group()
def data():
    """Fetch the datasets whose licence allows it."""


@data.command("download")
@click.argument("names", nargs=-1, required=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="where the loaders look [default: $HASHBENCH_DATA]")
def data_download(names, data_root):
    """Download NAMES (cifar10, fashion_mnist) with torchvision's downloaders and checksums, then
    load each once to check it."""
    from hashbench.data import load_dataset
    from hashbench.data.download import download

    with _bar() as bar:
        progress = RichProgress(bar)
        for name in names:
            folder = download(name, data_root, progress)
            ds = load_dataset(name, data_root)
            out.print(f"{name}: in {folder}; {len(ds.train)} train, {len(ds.query)} query, "
                      f"{len(ds.database)} database items (protocol {ds.protocol})")


@cli.command()
@click.argument("which", type=click.Choice(["result", "suite"]))
def schema(which):
    """Print the JSON Schema of result records or suite files."""
    from importlib import resources

    name = "result.v1.json" if which == "result" else "suite.v1.json"
    out.print_json(resources.files("hashbench").joinpath(f"schemas/{name}").read_text())


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    if debug:  # accepted anywhere, not only before the command
        sys.argv = [a for a in sys.argv if a != "--debug"]
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted; finished cells are kept, run the same command again to resume")
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except HashbenchError as err:
        if debug:
            console.print_exception()
        message = one_line(err, with_type=False, limit=2000)
        console.print(f"[red]error:[/] {terminal_safe(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted; finished cells are kept, run the same command again to resume")
        sys.exit(130)
    except OSError as err:  # an unwritable folder, a full disk, a file that vanished
        if debug:
            console.print_exception()
        where = f"{err.filename}: " if err.filename else ""
        console.print(f"[red]error:[/] {terminal_safe(where + (err.strerror or str(err)))}; "
                      "check that the folder exists, is writable and has free space "
                      "(finished records are kept)", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback on --debug
        if debug:
            console.print_exception()
            sys.exit(1)
        console.print(f"[red]internal error:[/] {terminal_safe(one_line(err))}; "
                      "rerun with --debug for the traceback and report it", highlight=False,
                      soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
