"""``hashbench zoo``: the published models, and adding a results folder's checkpoints to them."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from hashbench.commands.output import out, terminal_safe
from hashbench.zoo import build_zoo, default_root, entries


@click.command()
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
