"""``hashbench selfcheck``: one plugin's contract on a slice of the embedded data, as a table of
rules with what was measured and the fix for each that fails."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from hashbench.commands.output import FiniteFloat, console, out, terminal_safe
from hashbench.harness.guards import CellTimeout, time_limit
from hashbench.registry import attacks, defenses, methods
from hashbench.selfcheck import plugin_checks

# seconds `hashbench selfcheck` gives one plugin's checks: a few times what the slowest
# first-party plugin needs here (a defense's few training steps on the embedded slice: ~30 s),
# and what a user waits for before a plugin that never returns is named
SELFCHECK_TIMEOUT = 120.0


@click.command()
@click.option("--defense", "defense", default=None, help="registered defense name")
@click.option("--attack", "attack", default=None, help="registered attack name")
@click.option("--method", "method", default=None, help="registered hashing method name (image or image-text)")
@click.option("--timeout", type=FiniteFloat(min=1, max=86400), default=SELFCHECK_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="fail the check of a plugin that runs longer (one that never returns)")
def selfcheck(defense, attack, method, timeout):
    """Check one plugin's contract on a slice of the embedded data (seconds): image and text
    attacks, image and image-text defenses, image and image-text hashing methods."""

    given = [(r, n) for r, n in ((defenses, defense), (attacks, attack), (methods, method))
             if n is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --defense, --attack or --method NAME")
    registry, name = given[0]
    entry = registry.entry(name)
    cls = registry.get(name)
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
