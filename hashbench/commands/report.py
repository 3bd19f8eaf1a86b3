"""``hashbench report``: boards from one results folder, or several merged (the shipped records
beside a user's), written where they cannot overwrite the shipped board by accident."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hashbench.commands.output import console, out, terminal_safe
from hashbench.errors import ResultError
from hashbench.locations import checkout_root

SHIPPED_BOARD = "leaderboard"
USER_BOARD = Path("hashbench-report")  # ignored by git: a user's board never dirties a checkout


def shipped_results() -> Path | None:
    root = checkout_root()
    return (root / "results").resolve() if root is not None else None


def shipped_boards() -> list[Path]:
    """The shipped board, whose figures a report elsewhere copies instead of drawing again."""
    shipped = shipped_results()
    return [shipped.parent / SHIPPED_BOARD] if shipped is not None else []


def default_out(results_dirs: list[Path]) -> Path:
    """leaderboard/ when the results are exactly the shipped ones (rendering them again gives
    the committed bytes), else hashbench-report/: the shipped board is only ever overwritten
    from the shipped records, or when ``--out leaderboard`` says so."""
    shipped = shipped_results()
    if shipped is not None and [Path(d).resolve() for d in results_dirs] == [shipped]:
        return shipped.parent / SHIPPED_BOARD
    return USER_BOARD


def load_merged(results_dirs: list[Path]):
    """Every record of every folder that agrees with its evidence, settled (``report.
    provenance``): one record per cell, published ones first-party by hash. Returns the
    settled inputs, the ``origins`` of records not from the first folder, and a line per
    record left out. A record reached through a symlink is refused: a report reads only the
    files inside the folders it is given."""
    from hashbench.records.evidence import disagreement
    from hashbench.records.io import iter_record_paths, load_record, sha256_bytes
    from hashbench.records.published import published_hashes
    from hashbench.records.types import Record
    from hashbench.report.provenance import settle

    found, origins, left_out = [], {}, []
    for i, folder in enumerate(results_dirs):
        if not Path(folder).is_dir():
            raise ResultError(f"{folder}: no results folder; run `hashbench run --suite NAME` "
                              "first or pass --results DIR")
        for path in iter_record_paths([Path(folder)]):
            if _linked(path, Path(folder)):
                raise ResultError(f"{path}: a symlinked record (or folder) in --results "
                                  f"{folder}; copy the record there instead of linking it")
            data = path.read_bytes()
            raw = load_record(path)
            why = disagreement(path, raw)
            if why:  # never shown: the board's numbers are the evidence's
                left_out.append(f"{path}: {why}; its numbers are not its evidence's (re-run "
                                "the cell)")
                continue
            rec = Record.from_dict(raw, str(path))
            found.append((path, path.relative_to(folder), rec, sha256_bytes(data)))
            if i > 0:
                origins[id(rec)] = Path(folder).name or str(folder)
    inputs = settle(found, published_hashes())
    return inputs, origins, left_out + inputs.left_out


def _linked(path: Path, folder: Path) -> bool:
    """Whether ``path`` or a folder between it and ``folder`` is a symlink."""
    p = path
    while p != folder and p != p.parent:
        if p.is_symlink():
            return True
        p = p.parent
    return False


def render(results_dirs: list[Path], out_dir: Path | None, no_plots: bool) -> None:
    from hashbench.harness.published import ranking_requirements
    from hashbench.report.leaderboard import build_boards, write_leaderboards
    from hashbench.report.owned import check_out, owned, tidy, write_manifest
    from hashbench.report.plot_cache import figure_files
    from hashbench.report.plots import write_plots
    from hashbench.report.site import site_links

    out_dir = Path(out_dir) if out_dir is not None else default_out(results_dirs)
    shipped = shipped_results()
    check_out(out_dir, results_dirs, shipped, shipped_boards()[0] if shipped_boards() else None)
    inputs, origins, left_out = load_merged(results_dirs)
    records = inputs.records
    for line in left_out:
        console.print(f"[yellow]left out[/] {terminal_safe(line)}", soft_wrap=True)
    boards = build_boards([rec for _, _, rec in records], ranking_requirements(), origins,
                          inputs.published)
    if not boards:
        raise ResultError(f"{', '.join(map(str, results_dirs))}: no result records to report")
    print_boards(boards)
    before, written = owned(out_dir), set()
    if not no_plots:  # first, so that the page's detail views link the plots drawn
        with console.status("drawing PR, P@N and t-SNE plots"):
            plots = write_plots([(p, r) for p, _, r in records], out_dir, shipped_boards())
        written |= {f"plots/{f}" for f in figure_files(plots)}
        out.print(f"plots under {out_dir / 'plots'}: {len(plots.written)} drawn, "
                  f"{plots.unchanged} unchanged")
        for note in plots.notes:
            console.print(f"[yellow]{note}[/]")
    site = site_links(records, boards, out_dir, plugin_citations(), published_models())
    written |= {link for links in site.records.values() for link in links}
    pages = write_leaderboards(boards, out_dir, site)
    written |= {p.relative_to(out_dir).as_posix() for p in pages}
    for path in tidy(out_dir, before, written):
        out.print(f"removed {path} (a file of an earlier report no board shows now)")
    write_manifest(out_dir, written)
    for path in pages:
        out.print(f"wrote {path}")


def print_boards(boards) -> None:
    """Each board as a table, each suite's newest version first (as the site orders them);
    names wrap instead of being cut: a pipe or file gets the whole table, a terminal what
    fits its width."""
    from hashbench.report.leaderboard import current_first

    for board in current_first(boards):
        table = Table(title=terminal_safe(board.title))
        shown = [c for c in board.table.columns if c not in ("third_party", "flags")]
        for col in shown:
            text = col in ("model", "defense", "from", "provisional")
            widest = max([len(col), *(len(str(v)) for v in board.table[col])]) if text else None
            table.add_column(col, justify="left" if text else "right", overflow="fold",
                             min_width=min(widest, 40) if widest else None)
        for row in board.table[shown].itertuples(index=False):
            table.add_row(*("" if v is None or v != v else f"{v:.3f}" if isinstance(v, float)
                            else terminal_safe(str(v)) for v in row))
        (out if out.is_terminal else Console(width=200, soft_wrap=True)).print(table)


def plugin_citations() -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) -> (paper title, address) of every registered defense, attack and hashing
    method that names its paper."""
    from hashbench.registry import attacks, defenses, methods

    out = {}
    for kind, registry in (("defense", defenses), ("attack", attacks), ("method", methods)):
        for name in registry.names():
            try:
                cite = getattr(registry.get(name), "citation", None)
            except Exception:  # noqa: BLE001 - a plugin that fails to load has no card link
                continue
            if cite is not None and cite.url:
                out[(kind, name)] = (str(cite.title), str(cite.url))
    return out


def published_models() -> frozenset:
    """The (name, seed) pairs the model zoo publishes (none when there is no zoo)."""
    from hashbench.zoo import MANIFEST, default_root, entries

    root = default_root()
    if not (root / MANIFEST).is_file():
        return frozenset()
    return frozenset((e.name, e.seed) for e in entries(root))


@click.command()
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
    render(list(results_dirs), out_dir, no_plots)
