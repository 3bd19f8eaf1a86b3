"""The ``hashbench`` command. The library computes; the commands talk (rich output only in
``hashbench.commands``)."""

# ruff: noqa: E402 - the imports below come after the kernel pinning, on purpose
from __future__ import annotations

from hashbench import cpu_kernels

cpu_kernels.pin()  # the command-line entry point: before anything below imports torch

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hashbench import __version__
from hashbench.commands.output import (
    FiniteFloat,
    RichProgress,
    console,
    out,
    progress_bars,
    terminal_safe,
)
from hashbench.commands.records_cmds import evaluate_queries, reproduce, validate
from hashbench.commands.run import run
from hashbench.errors import HashbenchError, one_line

# seconds `hashbench selfcheck` gives one plugin's checks: some ten times what the slowest
# first-party plugin needs here (a defense's few training steps on the embedded slice)
SELFCHECK_TIMEOUT = 600.0


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
@click.option("--defense", "defense", default=None, help="registered defense name")
@click.option("--attack", "attack", default=None, help="registered attack name")
@click.option("--method", "method", default=None, help="registered hashing method name (image or image-text)")
@click.option("--timeout", type=FiniteFloat(min=1, max=86400), default=SELFCHECK_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="fail the check of a plugin that runs longer (one that never returns)")
def selfcheck(defense, attack, method, timeout):
    """Check one plugin's contract on a slice of the embedded data (seconds): image and text
    attacks, image and image-text defenses, image and image-text hashing methods."""
    from hashbench.registry import attacks, defenses, methods
    from hashbench.selfcheck import plugin_checks

    given = [(r, n) for r, n in ((defenses, defense), (attacks, attack), (methods, method))
             if n is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --defense, --attack or --method NAME")
    registry, name = given[0]
    entry = registry.entry(name)
    cls = registry.get(name)
    from hashbench.harness.guards import CellTimeout, time_limit

    try:
        with console.status(f"checking {registry.kind} {name}"), \
                time_limit(timeout, f"selfcheck of {registry.kind} '{name}'"):
            checks = plugin_checks(registry.kind, cls)
    except CellTimeout as err:  # a failed check (exit 1), not bad input
        console.print(f"[red]error:[/] {terminal_safe(str(err))}: the plugin did not return (a "
                      "loop that never ends?); fix it, or pass --timeout SECONDS if it is only "
                      "slow", highlight=False, soft_wrap=True)
        sys.exit(1)
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
@click.option("--results", "results_dirs", type=click.Path(path_type=Path), multiple=True,
              default=[Path("results")], show_default=True,
              help="a results folder; repeat it to merge several into one board (the first is "
              "the reference: rows from the others are marked with their folder)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="where to write [default: leaderboard/ for the shipped results alone, "
              "else hashbench-report/]")
@click.option("--no-plots", is_flag=True, help="tables only: skip the PR, P@N and t-SNE plots")
def report(results_dirs, out_dir, no_plots):
    """Render leaderboards (Markdown, CSV, HTML) and plots from the result records."""
    from hashbench.commands.report_cmd import render

    render(list(results_dirs), out_dir, no_plots)


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
    """Fetch the datasets whose licence allows it; build the others' lists from their
    distributions."""


@data.command("download")
@click.argument("names", nargs=-1, required=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="where the loaders look [default: $HASHBENCH_DATA]")
def data_download(names, data_root):
    """Download NAMES (cifar10, fashion_mnist) with torchvision's downloaders and checksums, then
    load each once to check it."""
    from hashbench.data import load_dataset
    from hashbench.data.download import download

    with progress_bars() as bar:
        progress = RichProgress(bar)
        for name in names:
            folder = download(name, data_root, progress)
            ds = load_dataset(name, data_root)
            out.print(f"{name}: in {folder}; {len(ds.train)} train, {len(ds.query)} query, "
                      f"{len(ds.database)} database items (protocol {ds.protocol})")


@data.command("prepare")
@click.argument("name", type=click.Choice(["nus_wide", "ms_coco", "flickr25k", "imagenet100"]))
@click.option("--from", "source", required=True, type=click.Path(path_type=Path),
              help="the folder the distribution unpacked to")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="where the loaders look [default: $HASHBENCH_DATA]")
@click.option("--classes", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="imagenet100: the 100 wnids, one a line (default: train/'s 100 folders)")
@click.option("--force", is_flag=True, help="rebuild list files that exist")
def data_prepare(name, source, data_root, classes, force):
    """Build NAME's list files (and tag matrices) from its distribution under --from: the
    literature's split, seeded, the same bytes on every machine. What each needs:

    \b
    nus_wide     ImageList/Imagelist.txt, Groundtruth/AllLabels/, Flickr/ [NUS_WID_Tags/AllTags1k.txt]
    ms_coco      annotations/instances_{train,val}2014.json, train2014/, val2014/
    flickr25k    mirflickr/im*.jpg, mirflickr25k_annotations_v080/ [mirflickr/meta/tags/]
    imagenet100  train/<wnid>/, val/<wnid>/ (--classes FILE: the 100 wnids)
    """
    from hashbench.data import load_dataset
    from hashbench.data.prepare import prepare
    from hashbench.errors import ConfigError

    if data_root is None:
        raise ConfigError("no data root: pass --data-root DIR or set HASHBENCH_DATA")
    with console.status(f"building the {name} lists"):
        done = prepare(name, source, data_root, classes=classes, force=force)
        ds = load_dataset(name, data_root)
    for note in done.notes:
        out.print(f"{name}: {note}", markup=False, highlight=False)
    text = f", tag vectors of {done.text_dim} tags" if done.text_dim else ""
    out.print(f"{name}: lists in {done.folder}; {len(ds.train)} train, {len(ds.query)} query, "
              f"{len(ds.database)} database items{text} (protocol {ds.protocol})",
              markup=False, highlight=False)


@cli.command()
@click.argument("which", type=click.Choice(["result", "suite"]))
def schema(which):
    """Print the JSON Schema of result records or suite files."""
    from importlib import resources

    name = "result.v1.json" if which == "result" else "suite.v1.json"
    out.print_json(resources.files("hashbench").joinpath(f"schemas/{name}").read_text())


for _command in (run, validate, reproduce, evaluate_queries):
    cli.add_command(_command)


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
