"""What the leaderboard page links, gathered in its folder so that the folder works when it is
published on its own: a copy of every record it shows (``records/``, the JSON without the
per-query sidecars), the figures drawn under ``plots/``, each row's model card."""

from __future__ import annotations

import os
from pathlib import Path

from hashbench.records.io import atomic_write_bytes
from hashbench.records.types import Record
from hashbench.report.cards import cards
from hashbench.report.html import SiteLinks
from hashbench.report.leaderboard import board_key, row_key
from hashbench.report.plots import EPS_FIGURE, plot_folder, row_figures

RECORDS = "records"


def copy_records(records: list[tuple[Path, Path, Record]], out_dir: Path) -> dict[int, str]:
    """Copy each record (path, place below its results folder, record) to
    ``out_dir/records/<place>`` (unchanged bytes are not rewritten); returns ``id(record)`` ->
    its copy's path relative to the page. Copies of records no longer shown are removed by the
    report's manifest (``report.owned``), which knows what a report wrote."""
    folder = Path(out_dir) / RECORDS
    links = {}
    for path, place, rec in records:
        dest = folder / place
        data = Path(path).read_bytes()
        if not dest.is_file() or dest.read_bytes() != data:
            atomic_write_bytes(dest, data)
        links[id(rec)] = f"{RECORDS}/{Path(place).as_posix()}"
    return links


def site_links(records: list[tuple[Path, Path, Record]], boards: list, out_dir: Path,
               citations: dict | None = None, zoo: frozenset = frozenset()) -> SiteLinks:
    """Per (board slug, model, defense): the row's record copies and PNG figures (relative to
    ``out_dir``, where the page is) and its card; per board the group's eps figure."""
    out_dir = Path(out_dir)
    slugs = {(b.suite, b.suite_version, b.protocol, b.bits, b.eps): b.slug for b in boards}
    copies = copy_records(records, out_dir)
    site = SiteLinks(citations=dict(citations or {}), zoo=frozenset(zoo))
    for _, _, rec in records:
        site.records.setdefault((slugs.get(board_key(rec)), *row_key(rec)), []).append(
            copies[id(rec)])
    site.records = {k: sorted(v) for k, v in site.records.items()}
    site.cards = cards([(p, r) for p, _, r in records],
                       lambda rec: (slugs.get(board_key(rec)), *row_key(rec)))

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, out_dir)).as_posix()

    for b in boards:
        folder = plot_folder(out_dir, b.suite, b.suite_version, b.protocol, b.bits)
        for model, defense in zip(b.table["model"], b.table["defense"]):
            site.figures[(b.slug, model, defense)] = [
                rel(p) for p in row_figures(folder, model, defense) if p.is_file()]
        eps = (folder / EPS_FIGURE).with_suffix(".png")
        site.figures[(b.slug, "", "")] = [rel(eps)] if eps.is_file() else []
    return site
