"""The leaderboard site: one self-contained page (inline CSS and a few lines of inline script to
sort; no CDN, no network). A board index; per board a compact summary table (rank band, model,
defense, clean mAP, worst case with its interval, a bar against the random floor, seeds,
flags) that fits 1280 px without scrolling, then one collapsible detail per row (every column
of the board, links to its JSON records, its PR / P@N / t-SNE plots). Collapsed models and
flagged rows are set apart. Every string from a record goes through ``html.escape``."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

from hashbench.report.references import paper_comparison
from hashbench.text import visible

if TYPE_CHECKING:  # annotations only: leaderboard imports this module
    from hashbench.report.leaderboard import Board

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; }
nav ul { padding-left: 1.2rem; } nav li { margin: 0.2rem 0; }
p.legend { color: #555; font-size: 0.9rem; max-width: 60rem; }
div.scroll { overflow-x: auto; }
table.board { border-collapse: collapse; width: 100%; background: #fff; font-size: 0.9rem; }
table.board th, table.board td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.45rem;
  text-align: right; white-space: nowrap; }
table.board td.text, table.board th.text { text-align: left; }
table.board th { background: #eef1f5; cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
tr.third-party td { background: #fff8e0; }
tr.flagged td:first-child { box-shadow: inset 4px 0 #d9822b; }
tr.collapsed td { color: #999; font-style: italic; }
table.board td.flags { white-space: normal; min-width: 10rem; max-width: 16rem;
  font-size: 0.8rem; color: #8a4b0f; }
.track { position: relative; width: 7rem; height: 0.7rem; background: #e6e6e6;
  border-radius: 2px; display: inline-block; vertical-align: middle; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; background: #3b7dd8; border-radius: 2px; }
.floor { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #c0392b; }
details { background: #fff; border: 1px solid #ddd; border-radius: 4px; margin: 0.4rem 0;
  padding: 0.4rem 0.8rem; }
details summary { cursor: pointer; font-weight: 600; }
details table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
details td { padding: 0.15rem 0.8rem 0.15rem 0; border-bottom: 1px solid #f0f0f0; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.plots img { width: 360px; max-width: 100%; border: 1px solid #eee; }
ul.records { font-size: 0.8rem; columns: 2; }
@media (max-width: 700px) {
  main { padding: 0.5rem; } .opt { display: none; } .track { width: 4rem; }
  ul.records { columns: 1; }
}
"""

# Click a header to sort by it (numbers numerically, empty cells last); click again to reverse.
# The page works from file:// with scripts allowed and nothing fetched.
_SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var nx = Number(x), ny = Number(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
// A link ending in #sort=<column> (twice: #sort=<column>,<column>) opens the page sorted by it.
var wanted = /sort=([^&]+)/.exec(decodeURIComponent(location.hash));
if (wanted) {
  wanted[1].split(",").forEach(function (name) {
    document.querySelectorAll("table.board th").forEach(function (th) {
      if (th.textContent === name) { th.click(); }
    });
  });
}
"""

def esc(text) -> str:
    """HTML-escaped, without control, bidi or zero-width characters (``text.visible``)."""
    return html.escape(visible(text))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def _fmt(value) -> str:
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _td(value, shown: str | None = None, cls: str = "") -> str:
    key = "" if _missing(value) else repr(value) if isinstance(value, float) else str(value)
    text = _fmt(value) if shown is None else shown
    klass = f' class="{cls}"' if cls else ""
    return f'<td{klass} data-value="{esc(key)}">{text if shown is not None else esc(text)}</td>'


def _bar(value, floor) -> str:
    if _missing(value):
        return ""
    fill = f'<span class="fill" style="width:{100 * min(max(value, 0), 1):.1f}%"></span>'
    mark = (f'<span class="floor" style="left:{100 * floor:.1f}%" title="random floor '
            f'{floor:.4f}"></span>' if floor is not None else "")
    return f'<span class="track">{fill}{mark}</span>'


def _summary(board: Board, anchor: dict) -> str:
    t = board.table
    clean_cols = [c for c in t.columns if c.endswith("clean mAP")]
    head = [("rank", "num", ""), ("model", "text", ""), ("defense", "text", ""),
            *[(c, "num", "") for c in clean_cols], ("worst-case mAP", "num", ""),
            ("95% interval", "num", "opt"), ("vs floor", "text", "opt"), ("seeds", "num", "opt"),
            ("flags", "text", "")]
    ths = "".join(f'<th class="{k}{" " + o if o else ""}">{esc(n)}</th>' for n, k, o in head)
    rows = []
    for i, row in t.iterrows():
        flags = row.get("flags") or ""
        collapsed = "of random ranking" in flags
        classes = [c for c, on in (("third-party", bool(row.get("third_party"))),
                                   ("collapsed", collapsed), ("flagged", bool(flags))) if on]
        worst = row.get("worst-case mAP")
        lo, hi = row.get("worst-case CI low"), row.get("worst-case CI high")
        interval = "" if _missing(lo) else f"[{lo:.4f}, {hi:.4f}]"
        link = f'<a href="#{anchor[i]}">{esc(_fmt(row["defense"]))}</a>'
        cells = [_td(row["rank"]), _td(row["model"], cls="text"),
                 _td(row["defense"], shown=link, cls="text"),
                 *[_td(row[c]) for c in clean_cols], _td(worst),
                 _td(lo, shown=esc(interval), cls="opt"),
                 _td(worst, shown=_bar(worst, board.floor), cls="text opt"),
                 _td(row.get("seeds"), cls="opt"),
                 _td(flags, shown=esc("collapsed to chance" if collapsed else flags),
                     cls="text flags")]
        klass = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(f"<tr{klass}>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="board">\n<thead><tr>{ths}</tr></thead>\n'
            "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>\n")


def _details(board: Board, anchor: dict, records: dict, plots: dict) -> str:
    out = []
    for i, row in board.table.iterrows():
        key = (board.slug, row["model"], row["defense"])
        facts = "".join(f"<tr><td>{esc(str(c))}</td><td>{esc(_fmt(v))}</td></tr>"
                        for c, v in row.items() if not _missing(v) and _fmt(v) != "")
        links = "".join(f'<li><a href="{esc(p)}">{esc("/".join(p.split("/")[-3:]))}</a></li>'
                        for p in records.get(key, []))
        imgs = "".join(f'<img src="{esc(p)}" alt="{esc(p.rsplit("/", 1)[-1])}" loading="lazy">'
                       for p in plots.get(key, []))
        out.append(
            f'<details id="{anchor[i]}"><summary>{esc(_fmt(row["rank"]))} · '
            f'{esc(_fmt(row["model"]))} · {esc(_fmt(row["defense"]))}</summary>\n'
            f"<table>{facts}</table>\n"
            + (f'<div class="plots">{imgs}</div>\n' if imgs else "")
            + (f'<p>Records (JSON, with their per-query sidecars):</p><ul class="records">'
               f"{links}</ul>\n" if links else "")
            + "</details>")
    return "\n".join(out) + "\n"


def _papers(board: Board) -> str:
    """The papers' numbers beside hashbench's for the cells this board re-evaluates."""
    table = paper_comparison(board)
    if table is None:
        return ""
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>\n"
                   for row in table.itertuples(index=False))
    return (f'<h3>Paper vs hashbench</h3>\n<div class="scroll"><table>\n<thead><tr>{head}'
            f"</tr></thead>\n<tbody>\n{body}</tbody></table></div>\n")


def board_html(board: Board, records: dict | None = None, plots: dict | None = None) -> str:
    anchor = {i: f"{board.slug}-row{i}" for i in board.table.index}
    return (f'<section id="{esc(board.slug)}">\n<h2>{esc(board.title)}</h2>\n'
            f'<p class="legend">{esc(board.legend)} Click a defense for its details.</p>\n'
            + _summary(board, anchor) + _details(board, anchor, records or {}, plots or {})
            + _papers(board) + "</section>\n")


def leaderboard_html(boards: list[Board], records: dict | None = None,
                     plots: dict | None = None) -> str:
    """The page. ``records`` and ``plots`` map (board slug, model, defense) to the paths (relative
    to the page) of the row's JSON records and plot images."""
    index = "".join(f'<li><a href="#{esc(b.slug)}">{esc(b.title)}</a> ({len(b.table)} rows)</li>'
                    for b in boards)
    body = "".join(board_html(b, records, plots) for b in boards)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>hashbench leaderboard</title>\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' file:\">\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n<h1>hashbench leaderboard</h1>\n"
        "<p>Generated by <code>hashbench report</code> from the result records. Rows are ranked "
        "by worst-case robust mAP (the per-query lowest AP over the suite's attacks); rows "
        "whose 95% intervals overlap share a rank; the red mark is the random-ranking floor. "
        "Click a column to sort. Boards never mix protocols or suite versions; third-party "
        "entries are shaded, flagged rows marked at the left, collapsed models greyed and "
        f"unranked.</p>\n<nav><ul>{index}</ul></nav>\n{body}</main>\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )
