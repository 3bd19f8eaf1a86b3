"""Tables for ``hashbench list``."""

from __future__ import annotations

import click
from rich.table import Table

from hashbench.commands.output import out
from hashbench.data import DATASETS
from hashbench.harness.suites import load_suite, package_suites
from hashbench.models.backbones import BACKBONES
from hashbench.registry import attacks, defenses, methods


def _plugin_table(registry) -> Table:
    table = Table(title=f"{registry.kind}s (entry-point group {registry.group})")
    for col in ("name", "provided by", "origin", "status"):
        table.add_column(col)
    for e in registry.entries():
        status = "ok"
        if e.error is None:
            try:
                registry.get(e.name)
            except Exception:  # noqa: BLE001 - reported in the table, the rest keeps working
                pass
        if e.error:
            status = f"[red]{e.error}[/]"
        origin = "[magenta]third-party[/]" if e.third_party else "first-party"
        table.add_row(e.name, f"{e.distribution} {e.dist_version}", origin, status)
    return table


def _simple(title: str, rows: dict[str, str]) -> Table:
    table = Table(title=title)
    table.add_column("name")
    table.add_column("description")
    for k in sorted(rows):
        table.add_row(k, rows[k])
    return table


def listing_tables() -> list[Table]:
    suites = {}
    for name in package_suites():
        s = load_suite(name)
        suites[name] = f"v{s.version}: {s.description}"
    return [
        _plugin_table(attacks), _plugin_table(defenses), _plugin_table(methods),
        _simple("backbones", BACKBONES),
        _simple("datasets", {k: v.description for k, v in DATASETS.items()}),
        _simple("suites", suites),
    ]


@click.command("list")
def list_cmd():
    """List attacks, defenses, hashing methods, backbones, datasets and suites."""
    for table in listing_tables():
        out.print(table)
