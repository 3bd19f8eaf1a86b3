"""The leaderboard site: one self-contained page (inline CSS and a few lines of inline script to
sort; no CDN, no network) that works when the folder holding it is published on its own.

The newest version of each suite first, older versions in an archive section. Per board: a
summary table (rank band, model, defense, clean mAP, each attack's mAP, the worst case with its
interval and a bar against the random floor, seeds, flags) that fits 1280 px, of which a phone
keeps rank, defense and worst case; provisional entries (unranked) apart; then one model card per
row (the defense's paper, its parameters and the suite's recipe, each seed's checkpoint sha256,
the zoo name with the ``load_model`` line, links to the row's records and figures). Every
string from a record goes through ``html.escape``; a link a plugin gives is kept only when it is
an http(s) address."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from hashbench.records.types import HANDED_IN
from hashbench.report.references import paper_comparison
from hashbench.report.site_style import CITE, SCRIPT, STYLE
from hashbench.text import visible

if TYPE_CHECKING:  # annotations only: leaderboard imports this module
    from hashbench.report.leaderboard import Board

# columns the summary shows apart, or not at all (the card lists every column)
_APART = ("rank", "model", "defense", "from", "worst-case mAP", "worst-case CI low",
          "worst-case CI high", "floor", "seeds", "interval", "eps", "text flips", "steps",
          "third_party", "provisional", "flags")

# summary columns past which the table is set in a smaller type (.dense): an image-text
# board has some twenty, and the smaller type keeps it within 1280 px
_DENSE_OVER = 16


@dataclass
class SiteLinks:
    """What the page links beside the boards, keyed by (board slug, model, defense): the row's
    record paths and figures (relative to the page), its ``cards.Card``; per board slug (key
    (slug, "", "")) the group's figures; ``citations`` (kind, plugin name) -> (title, url);
    ``zoo`` the (name, seed) pairs the model zoo publishes."""

    records: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    cards: dict = field(default_factory=dict)
    citations: dict = field(default_factory=dict)
    zoo: frozenset = frozenset()


def esc(text) -> str:
    """HTML-escaped, without control, bidi or zero-width characters (``text.visible``)."""
    return html.escape(visible(text))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def shown_value(value) -> str:
    """A board cell's text (before escaping for HTML or markdown): nothing for a missing
    value, "yes" for true, four decimals for a float."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _td(value, shown: str | None = None, cls: str = "") -> str:
    key = "" if _missing(value) else repr(value) if isinstance(value, float) else str(value)
    text = shown_value(value) if shown is None else shown
    klass = f' class="{cls}"' if cls else ""
    return f'<td{klass} data-value="{esc(key)}">{text if shown is not None else esc(text)}</td>'


def _bar(value, floor) -> str:
    if _missing(value):
        return ""
    fill = f'<span class="fill" style="width:{100 * min(max(value, 0), 1):.1f}%"></span>'
    mark = (f'<span class="floor" style="left:{100 * floor:.1f}%" title="random floor '
            f'{floor:.4f}"></span>' if floor is not None else "")
    return f'<span class="track">{fill}{mark}</span>'


def _link(citation) -> str:
    """A plugin's paper as a link (its title as text); an address that is not http(s) is
    shown, never followed."""
    if not citation:
        return "no citation given by the plugin"
    title, url = citation
    if str(url).startswith(("https://", "http://")):
        return f'<a href="{esc(url)}" rel="noopener">{esc(title)}</a>'
    return f"{esc(title)} ({esc(url)})"


def _breakable(name: str) -> str:
    """A column name that may wrap after its underscores (attack names are long)."""
    return esc(name).replace("_", "_<wbr>")


def attack_columns(t: pd.DataFrame, blackbox_members: frozenset[str] = frozenset()
                   ) -> list[str]:
    """The board's per-attack mAP columns (an attack added with ``--add-attack`` included),
    the black-box worst case last. The attacks behind a black-box worst case
    (``blackbox_members``) are left to the card: the summary keeps the column that sums them
    up, so an image-text board (two directions, two worst cases) still fits 1280 px."""
    cols = [c for c in t.columns if c.endswith(" mAP") and c not in _APART
            and not c.endswith("clean mAP") and not c.endswith("t-mAP")
            and c.removesuffix(" mAP").split(" ")[-1] not in blackbox_members]
    return sorted(cols, key=lambda c: ("black-box" in c, c))


def _summary(board: Board, anchor: dict, rows) -> str:
    t = board.table
    clean_cols = [c for c in t.columns if c.endswith("clean mAP")]
    attack_cols = attack_columns(t, board.blackbox_members)
    drops = [c for c in t.columns if c.endswith("drop at 2x")]  # the convergence check
    mine = "from" in t.columns
    # the headline beside the row's name, the per-attack columns after it: the worst case
    # stays on screen however many attacks a board has
    head = [("rank", "num", ""), ("model", "text", "opt"), ("defense", "text", ""),
            *([("from", "text", "opt")] if mine else []),
            *[(c, "num", "opt") for c in clean_cols],
            ("worst-case mAP", "num", "key"), ("95% interval", "num", "opt"),
            *[(c, "num", "opt") for c in drops],
            ("vs floor", "text", "opt"), *[(c, "num", "opt atk") for c in attack_cols],
            ("seeds", "num", "opt"), ("flags", "text", "opt")]
    ths = "".join(f'<th class="{k} {o}" title="{esc(n)}">'
                  f'{_breakable(n[:-4] if "atk" in o else n)}</th>' for n, k, o in head)
    body = []
    for i in rows:
        row = t.loc[i]
        flags = row.get("flags") or ""
        collapsed = "of random ranking" in flags
        classes = [c for c, on in (("third-party", bool(row.get("third_party"))),
                                   ("collapsed", collapsed), ("flagged", bool(flags)),
                                   ("yours", mine and bool(row.get("from")))) if on]
        worst = row.get("worst-case mAP")
        lo, hi = row.get("worst-case CI low"), row.get("worst-case CI high")
        interval = "" if _missing(lo) else f"[{lo:.3f}, {hi:.3f}]"
        link = f'<a href="#{anchor[i]}">{esc(_row_name(row))}</a>'
        cells = [_td(row["rank"]), _td(row["model"], cls="text opt"),
                 _td(row["defense"], shown=link, cls="text"),
                 *([_td(row.get("from"), cls="text opt")] if mine else []),
                 *[_td(row[c], cls="opt") for c in clean_cols], _td(worst, cls="key"),
                 _td(lo, shown=esc(interval), cls="opt"),
                 *[_td(row[c], cls="opt") for c in drops],
                 _td(worst, shown=_bar(worst, board.floor), cls="text opt"),
                 *[_td(row[c], cls="opt atk") for c in attack_cols],
                 _td(row.get("seeds"), cls="opt"),
                 _td(flags, shown=esc("collapsed to chance" if collapsed else flags),
                     cls="text flags opt")]
        klass = f' class="{" ".join(classes)}"' if classes else ""
        body.append(f"<tr{klass}>{''.join(cells)}</tr>")
    dense = " dense" if len(head) > _DENSE_OVER else ""
    return (f'<div class="scroll"><table class="board{dense}">\n<thead><tr>{ths}</tr></thead>\n'
            "<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table></div>\n")


def _row_name(row) -> str:
    """A row's name in the summary: its defense, and for a model handed in (whose defense is
    always "handed-in") its model, so that two such rows read apart on a phone too."""
    defense = shown_value(row["defense"])
    return f"{shown_value(row['model'])} (handed in)" if defense == HANDED_IN else defense


def _provisional(board: Board, anchor: dict, rows) -> str:
    if not rows:
        return ""
    t = board.table
    clean = next((c for c in t.columns if c.endswith("clean mAP")), None)
    mine = "from" in t.columns
    body = "".join(
        f'<tr><td class="text opt">{esc(shown_value(t.loc[i, "model"]))}</td><td class="text">'
        f'<a href="#{anchor[i]}">{esc(_row_name(t.loc[i]))}</a></td>'
        + (_td(t.loc[i, "from"], cls="text opt") if mine else "")
        + (_td(t.loc[i, clean], cls="opt") if clean else "")
        + f'{_td(t.loc[i].get("worst-case mAP"), cls="key")}'
        f'<td class="text">{esc(t.loc[i, "provisional"])}</td>'
        f'{_td(t.loc[i].get("flags") or "", cls="text flags")}</tr>\n' for i in rows)
    heads = ('<th class="text opt">model</th><th class="text">defense</th>'
             + ('<th class="text opt">from</th>' if mine else "")
             + (f'<th class="num opt">{esc(clean)}</th>' if clean else "")
             + '<th class="num key">worst-case mAP</th><th class="text">lacks</th>'
             '<th class="text">flags</th>')
    return ('<h3>Provisional entries (unranked)</h3>\n<p class="legend">A worst case over '
            "fewer than the suite's attacks, or over fewer than its seeds, is an upper bound "
            "that the full evaluation can only lower: these rows are listed, not ranked.</p>\n"
            '<div class="scroll"><table class="board provisional">\n<thead><tr>'
            f"{heads}</tr></thead>\n<tbody>\n{body}</tbody></table></div>\n")


def _kv(params: dict) -> str:
    if not params:
        return "<em>none</em>"
    return "<code>" + esc(", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items()))) \
        + "</code>"


def _card(board: Board, i, anchor: dict, site: SiteLinks) -> str:
    row = board.table.loc[i]
    key = (board.slug, row["model"], row["defense"])
    card = site.cards.get(key)
    items = []
    if row.get("flags"):  # on a phone the flags column is hidden: the card says them
        items.append(("flags", esc(row["flags"])))
    if card is not None:
        items += [("paper", _link(site.citations.get(("defense", card.defense)))),
                  ("package", esc(card.distribution)),
                  ("defense parameters", _kv(card.defense_params)),
                  ("suite recipe", _kv(card.recipe)),
                  ("hashing", f"{esc(card.hash_method)} {_kv(card.hash_params)}"
                   + (f" · {_link(site.citations[('method', card.hash_method)])}"
                      if ("method", card.hash_method) in site.citations else ""))]
        for seed, sha in sorted(card.checkpoints.items()):
            parent = card.parents.get(seed)
            items.append((f"seed {seed} checkpoint", f"<code>sha256 {esc(sha)}</code>" + (
                f" (fine-tuned from <code>{esc(parent[:16])}…</code>)" if parent else "")))
        loads = [f'<code>hashbench.load_model({esc(json.dumps(card.zoo_name))}, seed={s})'
                 "</code>" for s in sorted(card.checkpoints) if (card.zoo_name, s) in site.zoo]
        handed_in = card.defense == HANDED_IN
        items.append(("model zoo", "<br>".join(loads) if loads else
                      "a model handed in with <code>hashbench.benchmark</code>: its owner "
                      "holds it" if handed_in else
                      "not in the model zoo (train it with <code>hashbench run</code>)"))
        for attack, params in sorted(card.attacks.items()):
            items.append((f"attack {attack}",
                          f"{_link(site.citations.get(('attack', attack)))} {_kv(params)}"))
    facts = "".join(f"<tr><td>{esc(str(c))}</td><td>{esc(shown_value(v))}</td></tr>"
                    for c, v in row.items() if not _missing(v) and shown_value(v) != "")
    info = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in items)
    links = "".join(f'<li><a href="{esc(p)}">{esc("/".join(p.split("/")[-3:]))}</a></li>'
                    for p in site.records.get(key, []))
    imgs = "".join(f'<a href="{esc(p)}"><img src="{esc(p)}" alt="{esc(p.rsplit("/", 1)[-1])}"'
                   ' loading="lazy"></a>' for p in site.figures.get(key, []))
    rank = shown_value(row["rank"]) or "unranked"
    return (f'<details id="{anchor[i]}" class="card"><summary>{esc(rank)} · '
            f'{esc(shown_value(row["model"]))} · {esc(shown_value(row["defense"]))}</summary>\n'
            f'<table class="card">{info}</table>\n'
            + (f'<div class="plots">{imgs}</div>\n' if imgs else "")
            + f'<details class="inner"><summary>every column</summary><table>{facts}</table>'
            "</details>\n"
            + (f'<p>Records (JSON; their per-query sidecars stay beside the originals, in the '
               f'results folder this board was rendered from):</p><ul class="records">{links}'
               '</ul>\n' if links else "")
            + "</details>")


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


def board_html(board: Board, site: SiteLinks | None = None) -> str:
    site = site or SiteLinks()
    t = board.table
    anchor = {i: f"{board.slug}-row{i}" for i in t.index}
    lacking = t["provisional"].astype(bool) if "provisional" in t else pd.Series(False, t.index)
    ranked, apart = list(t.index[~lacking]), list(t.index[lacking])
    group = "".join(f'<a href="{esc(p)}"><img src="{esc(p)}" alt="robustness against eps" '
                    'loading="lazy"></a>' for p in site.figures.get((board.slug, "", ""), []))
    return (f'<section id="{esc(board.slug)}">\n<h2>{esc(board.title)}</h2>\n'
            f'<p class="legend">{esc(board.legend)} Click a defense for its model card.</p>\n'
            + _summary(board, anchor, ranked) + _provisional(board, anchor, apart)
            + (f'<h3>Robustness against eps</h3><div class="plots">{group}</div>\n'
               if group else "")
            + "\n".join(_card(board, i, anchor, site) for i in t.index) + "\n"
            + _papers(board) + "</section>\n")


def current_first(boards: list[Board]) -> list[Board]:
    current, archive = _order(boards)
    return current + archive


def _order(boards: list[Board]) -> tuple[list[Board], list[Board]]:
    """(current, archive): each suite's newest version first (the standard suite leading),
    older versions after, newest first."""
    newest: dict[str, int] = {}
    for b in boards:
        newest[b.suite] = max(newest.get(b.suite, 0), b.suite_version)

    def key(b):
        return (b.suite != "standard", b.suite, -b.suite_version, b.protocol, b.bits, b.eps)

    ordered = sorted(boards, key=key)
    return ([b for b in ordered if b.suite_version == newest[b.suite]],
            [b for b in ordered if b.suite_version < newest[b.suite]])


def _index(boards: list[Board]) -> str:
    return "".join(f'<li><a href="#{esc(b.slug)}">{esc(b.title)}</a> ({len(b.table)} rows)</li>'
                   for b in boards)


def leaderboard_html(boards: list[Board], site: SiteLinks | None = None) -> str:
    """The page."""
    current, archive = _order(boards)
    body = "".join(board_html(b, site) for b in current)
    if archive:
        body += ('<section id="archive">\n<h2>Archive: older suite versions</h2>\n<p>Kept '
                 "published and loadable; their rows are not comparable with the current "
                 "versions' (another protocol).</p>\n" + "".join(
                     f"<details class=\"archived\"><summary>{esc(b.title)}</summary>\n"
                     f"{board_html(b, site)}</details>\n" for b in archive) + "</section>\n")
    nav = f"<h2>Current boards</h2><ul>{_index(current)}</ul>" + (
        f'<h2>Archive</h2><ul>{_index(archive)}</ul>' if archive else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>hashbench leaderboard</title>\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' file:\">\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>hashbench leaderboard</h1>\n"
        "<p>Adversarial robustness of deep-hashing retrieval, measured by one harness: rows "
        "are ranked by the worst-case robust mAP (per query, the lowest AP over the suite's "
        "attacks, its ensemble included); rows whose 95% intervals overlap share a rank; the "
        "red mark is the random-ranking floor. Click a column to sort, a defense for its model "
        "card. Boards never mix protocols or suite versions; third-party entries are shaded, "
        "flagged rows marked by an orange bar at the left (their flags in the flags column, "
        "and on a phone in the row's card), collapsed models greyed and unranked, partial "
        "evaluations listed apart as provisional. <a href=\"#cite\">How to cite</a>.</p>\n"
        f"<nav>{nav}</nav>\n{body}{CITE}</main>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
