"""``hashbench validate``: result records checked against the result schema and their sidecars."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hashbench.commands.output import console, out, terminal_safe
from hashbench.errors import HashbenchError
from hashbench.records.evidence import check_evidence
from hashbench.records.io import iter_record_paths, load_record, sidecar_bytes


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths):
    """Check result records (files or folders) against the result schema and their evidence
    (each number recomputed from the record's per-query sidecar)."""
    bad = 0
    n = 0
    for p in iter_record_paths(list(paths)):
        n += 1
        try:
            rec = load_record(p)
            if rec["sidecar"]:  # present, beside the record, and the bytes the record names
                sidecar_bytes(p, rec)
            check_evidence(p, rec)  # its numbers are its per-query arrays'
        except HashbenchError as err:
            bad += 1
            out.print(f"[red]invalid[/] {terminal_safe(str(err))}")
    out.print(f"{n - bad} valid, {bad} invalid")
    if bad or n == 0:
        if n == 0:
            console.print("no *.json records found under the given paths")
        sys.exit(1)
