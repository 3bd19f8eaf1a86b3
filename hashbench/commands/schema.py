"""``hashbench schema``: the JSON Schema of result records or of suite files."""

from __future__ import annotations

from importlib import resources

import click

from hashbench.commands.output import out


@click.command()
@click.argument("which", type=click.Choice(["result", "suite"]))
def schema(which):
    """Print the JSON Schema of result records or suite files."""
    name = "result.v1.json" if which == "result" else "suite.v1.json"
    out.print_json(resources.files("hashbench").joinpath(f"schemas/{name}").read_text())
