"""Figures from result records and their sidecars alone (no model, no data): precision-recall and
P@N curves (clean vs each attack), t-SNE maps of codes, robustness against eps.

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot global state) and saved as
PNG and SVG with the date and software stamps removed, so the same results give the same bytes;
the t-SNE maps come from ``hashbench.report.tsne``, whose maps are the same bytes on every machine.

A figure is drawn only when its inputs changed: ``plots/inputs.json`` holds, per figure, the hash
of what it is drawn from (its arrays, its title, this module's and the t-SNE module's code and
matplotlib's version), so re-rendering the shipped board skips every figure whose files are there.
Figures no record asks for any more are removed: every file under ``plots/`` is one the page can
link.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from hashbench.records.io import atomic_write_bytes, read_sidecar
from hashbench.records.types import ABSENT, AGGREGATES, CLEAN, Record
from hashbench.report.leaderboard import group_key, row_key, slug
from hashbench.report.plot_cache import (  # noqa: F401 - PlotResult and the cache, re-exported
    INPUTS,
    PlotResult,
    _both,
    _read_inputs,
    figure_files,
)
from hashbench.report.tsne import embed

TSNE_QUERIES = 200  # clean and adversarial query codes drawn on a t-SNE map
TSNE_ATTACK_PREFERENCE = ("center_pgd", "hag", "text_flip")  # the untargeted attack shown
DIRECTION_NAMES = {"i2t": "I→T", "t2i": "T→I"}


@dataclass
class Row:
    """The records of one model + defense within one leaderboard group, with their sidecars."""

    model: str
    defense: str
    by_attack: dict[str, list[tuple[Record, dict]]] = field(default_factory=dict)
    direction: str | None = None  # image-text rows: one per direction ("i2t", "t2i")

    @property
    def label(self) -> str:
        return f"{self.model} {self.defense}" + (f" {DIRECTION_NAMES[self.direction]}"
                                                  if self.direction else "")

    def at_protocol_eps(self, attack: str) -> tuple[Record, dict] | None:
        """The (record, arrays) of ``attack`` at the protocol's eps (the cell without an eps
        override), else the first one found."""
        found = sorted(self.by_attack.get(attack, []), key=lambda r: r[0].seed)
        plain = [r for r in found if r[0].cell["eps"] is None]
        return (plain or found)[0] if plain or found else None

    @property
    def seed(self) -> int | None:
        """The root seed the row's figures show (its lowest)."""
        clean = self.at_protocol_eps(CLEAN)
        return clean[0].seed if clean else None


_STAMP: bytes | None = None  # _code_stamp(), computed once


def _code_stamp() -> bytes:
    """The code that draws the figures: the drawing functions' source (not this module's
    caching and bookkeeping, whose edits change no figure), the t-SNE module and matplotlib's
    version."""
    import inspect

    from hashbench.report import tsne

    drawing = (_save, _attack_curves, _first_label, plot_curves, plot_tsne, plot_eps_sweeps,
               plot_tsne_modalities)
    source = "".join(inspect.getsource(f) for f in drawing) + inspect.getsource(tsne)
    return hashlib.sha256((source + matplotlib.__version__).encode()).digest()


def inputs_hash(title: str, arrays: list) -> str:
    """The hash of a figure's inputs: its title and arrays (dtype, shape and bytes), with the
    code that draws it."""
    global _STAMP
    if _STAMP is None:
        _STAMP = _code_stamp()
    h = hashlib.sha256(_STAMP)
    h.update(title.encode())
    for arr in arrays:
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def collect_rows(records: list[tuple[Path, Record]]) -> dict[tuple, list[Row]]:
    """Group ok records (with readable sidecars) by leaderboard group, then model + defense."""
    groups: dict[tuple, dict[tuple, Row]] = {}
    for path, rec in records:
        if not rec.ok or not rec.sidecar or rec.scale != 1:  # a convergence run: no figure
            continue
        model, defense = row_key(rec)
        direction = rec.metrics.direction or None
        rows = groups.setdefault(group_key(rec), {})
        row = rows.setdefault((model, defense, direction or ""),
                              Row(model, defense, direction=direction))
        row.by_attack.setdefault(rec.attack_name, []).append(
            (rec, read_sidecar(path, rec.to_dict())))
    return {k: [v[key] for key in sorted(v)] for k, v in sorted(groups.items())}


def _save(fig: Figure, base: Path, result: PlotResult, key: str) -> None:
    with matplotlib.rc_context({"svg.hashsalt": "hashbench", "svg.fonttype": "none"}):
        for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, metadata=meta, dpi=110, bbox_inches="tight")
            path = base.with_suffix(f".{ext}")
            atomic_write_bytes(path, buf.getvalue())
            result.written.append(path)
    result.drawn(base, key)


def _attack_curves(row: Row):
    clean = row.at_protocol_eps(CLEAN)
    if clean is None or "curve_precision" not in clean[1]:
        return []
    curves = [("clean", clean[1])]
    for attack in sorted(row.by_attack):
        if attack in (CLEAN, *AGGREGATES):
            continue
        found = row.at_protocol_eps(attack)
        if found and "curve_precision" in found[1]:
            curves.append((attack, found[1]))
    return curves


def plot_curves(row: Row, title: str, base: Path, result: PlotResult) -> None:
    """Precision-recall and P@N, clean against every attack, one figure each."""
    curves = _attack_curves(row)
    if not curves:
        result.notes.append(f"{title}: no curve arrays in the sidecars (re-run the cells)")
        return
    key = inputs_hash(f"curves {title} " + " ".join(n for n, _ in curves),
                      [a[k] for _, a in curves for k in ("curve_recall", "curve_precision",
                                                          "curve_cutoffs")])
    pr, pn = base.with_name(base.name + "_pr"), base.with_name(base.name + "_pn")
    if result.fresh(pr, key) & result.fresh(pn, key):
        return
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    for name, arr in curves:
        ax.plot(arr["curve_recall"], arr["curve_precision"], label=name,
                linestyle="-" if name == "clean" else "--")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=f"PR · {title}")
    ax.legend(loc="upper right", fontsize="small")
    _save(fig, pr, result, key)

    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    for name, arr in curves:
        ax.plot(arr["curve_cutoffs"], arr["curve_precision"], label=name,
                linestyle="-" if name == "clean" else "--")
    ax.set(xlabel="N (items retrieved)", ylabel="precision@N", ylim=(0, 1.02), xscale="log",
           title=f"P@N · {title}")
    ax.legend(loc="upper right", fontsize="small")
    _save(fig, pn, result, key)


def _first_label(labels: np.ndarray) -> np.ndarray:
    """Colour of an item: its first label (multi-label items take their lowest label index)."""
    return np.where(labels.any(axis=1), labels.argmax(axis=1), -1)


def _arrays(row: Row, attack: str) -> dict:
    """The per-query arrays of ``row``'s cell of ``attack`` at the protocol's eps ({} if none)."""
    found = row.at_protocol_eps(attack)
    return found[1] if found is not None else {}


def plot_tsne(row: Row, title: str, base: Path, result: PlotResult) -> None:
    """t-SNE of database codes, with clean and adversarial query codes on top, by label."""
    clean = row.at_protocol_eps(CLEAN)
    attack = next((a for a in TSNE_ATTACK_PREFERENCE if row.at_protocol_eps(a)), None)
    if clean is None or attack is None or "db_sample_codes" not in clean[1]:
        return
    adv = _arrays(row, attack)
    if "codes" not in adv:
        return
    c = clean[1]
    # evenly spaced queries: query splits are often ordered by class
    q = np.unique(np.linspace(0, len(c["codes"]) - 1, min(TSNE_QUERIES, len(c["codes"])))
                  .round().astype(np.int64))
    n_q = len(q)
    points = np.concatenate([c["db_sample_codes"], c["codes"][q], adv["codes"][q]])
    out = base.with_name(base.name + "_tsne")
    key = inputs_hash(f"tsne {title} {attack}", [points, c["db_sample_labels"], c["labels"][q]])
    if result.fresh(out, key):
        return
    emb = embed(points)
    n_db = len(c["db_sample_codes"])
    db_xy, q_xy, adv_xy = emb[:n_db], emb[n_db:n_db + n_q], emb[n_db + n_q:]
    db_col, q_col = _first_label(c["db_sample_labels"]), _first_label(c["labels"][q])
    cmap = matplotlib.colormaps["tab10" if max(db_col.max(), q_col.max()) < 10 else "tab20"]
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    ax.scatter(db_xy[:, 0], db_xy[:, 1], c=db_col, cmap=cmap, s=6, alpha=0.35,
               label="database", vmin=0, vmax=cmap.N - 1)
    ax.scatter(q_xy[:, 0], q_xy[:, 1], c=q_col, cmap=cmap, s=28, marker="o",
               edgecolors="black", linewidths=0.5, label="clean query", vmin=0, vmax=cmap.N - 1)
    ax.scatter(adv_xy[:, 0], adv_xy[:, 1], c=q_col, cmap=cmap, s=40, marker="x",
               label=f"{attack} query", vmin=0, vmax=cmap.N - 1)
    ax.set(title=f"t-SNE of codes · {title}", xticks=[], yticks=[])
    ax.legend(loc="best", fontsize="small")
    _save(fig, out, result, key)


def plot_eps_sweeps(rows: list[Row], title: str, base: Path, result: PlotResult) -> None:
    """Robust mAP against eps (the mean over the row's seeds at each eps), one line per defense
    and attack, where the group's cells sweep more than one eps."""
    lines = []
    for row in rows:
        for attack, found in sorted(row.by_attack.items()):
            by_eps: dict[float, list[float]] = {}
            for r, _ in found:
                if r.metrics.map is not ABSENT:
                    by_eps.setdefault(float(r.metrics.eps), []).append(float(r.metrics.map))
            if len(by_eps) > 1 and attack != CLEAN:
                pts = [(e, sum(v) / len(v)) for e, v in sorted(by_eps.items())]
                lines.append((f"{row.label} / {attack}", pts))
    if not lines:
        return
    key = inputs_hash(f"eps {title} " + " ".join(n for n, _ in lines),
                      [np.asarray(p, dtype=np.float64) for _, p in lines])
    if result.fresh(base, key):
        return
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    for label, pts in lines:
        ax.plot(*zip(*pts), marker="o", label=label)
    ax.set(xlabel="eps (l-inf, [0,1] pixels)", ylabel="mAP under attack (mean over seeds)",
           ylim=(0, 1.02), title=f"robustness vs eps · {title}")
    ax.legend(fontsize="small")
    _save(fig, base, result, key)


def plot_folder(out_dir: Path, suite: str, version: int, protocol: str, bits: int) -> Path:
    """Where a group's figures go (one folder per suite version, protocol and bits)."""
    return Path(out_dir) / "plots" / slug(f"{suite}-v{version}_{protocol}_{bits}b")


def row_base(folder: Path, model: str, defense: str, direction: str | None = None) -> Path:
    """A row's figures are ``<base>_pr``, ``<base>_pn``, ``<base>_tsne`` (.png, .svg)."""
    return folder / slug("_".join(filter(None, (model, defense, direction))))


ROW_FIGURES = ("pr", "pn", "tsne")


def row_figures(folder: Path, model: str, defense: str) -> list[Path]:
    """The PNG figures a row may have (image rows, each direction of image-text rows, and the
    image-text map of both modalities), whether drawn or not."""
    names = [f"{row_base(folder, model, defense, d).name}_{kind}"
             for d in (None, "i2t", "t2i") for kind in ROW_FIGURES]
    names.append(f"{row_base(folder, model, defense).name}_tsne_modalities")
    return [folder / f"{name}.png" for name in names]


def write_plots(records: list[tuple[Path, Record]], out_dir: Path,
                others: list[Path] | None = None) -> PlotResult:
    """Every figure for every group and row under ``out_dir/plots/<group>/``: those whose inputs
    changed drawn (or copied from one of the ``others`` boards' folders, which drew them from
    the same inputs), the others kept; figures of no record removed."""
    folder_root = Path(out_dir) / "plots"
    boards = [(f, _read_inputs(f)) for f in (Path(o) / "plots" for o in others or [])
              if f.resolve() != folder_root.resolve()]
    result = PlotResult(folder=folder_root, old=_read_inputs(folder_root), others=boards)
    for key, rows in collect_rows(records).items():
        suite, version, protocol, bits = key
        folder = plot_folder(out_dir, suite, version, protocol, bits)
        group_title = f"{suite} v{version} · {protocol} {bits}b"
        for row in rows:
            title = f"{row.label} · {group_title} · seed {row.seed}"
            base = row_base(folder, row.model, row.defense, row.direction)
            plot_curves(row, title, base, result)
            plot_tsne(row, title, base, result)
        plot_eps_sweeps(rows, group_title, folder / EPS_FIGURE, result)
        pairs: dict[tuple[str, str], dict[str, Row]] = {}
        for row in rows:
            if row.direction:
                pairs.setdefault((row.model, row.defense), {})[row.direction] = row
        for (model, defense), by_dir in pairs.items():
            if set(by_dir) == {"i2t", "t2i"}:
                plot_tsne_modalities(by_dir["i2t"], by_dir["t2i"],
                                     f"{model} {defense} · {group_title} · seed "
                                     f"{by_dir['i2t'].seed}",
                                     row_base(folder, model, defense), result)
    text = json.dumps(dict(sorted(result.kept.items())), indent=0) + "\n"
    if result.kept or (folder_root / INPUTS).is_file():
        atomic_write_bytes(folder_root / INPUTS, text.encode())
    return result


EPS_FIGURE = "eps_sweep"  # a group's robustness-vs-eps figure (when its cells sweep eps)


def plot_tsne_modalities(i2t: Row, t2i: Row, title: str, base: Path,
                         result: PlotResult) -> None:
    """One t-SNE map of an image-text model's code space: image and text codes of the same
    queries (and database samples of both modalities), by label; paired codes that land apart
    show the modality gap, and the attacked codes show where each attack moves a query."""
    if i2t.at_protocol_eps(CLEAN) is None or t2i.at_protocol_eps(CLEAN) is None:
        return
    ci, ct = _arrays(i2t, CLEAN), _arrays(t2i, CLEAN)
    if "db_sample_codes" not in ci or "codes" not in ct:
        return
    n = min(len(ci["codes"]), len(ct["codes"]))
    q = np.unique(np.linspace(0, n - 1, min(TSNE_QUERIES, n)).round().astype(np.int64))
    parts = {"text database": (ci["db_sample_codes"], ci["db_sample_labels"]),
             "image database": (ct["db_sample_codes"], ct["db_sample_labels"]),
             "image query": (ci["codes"][q], ci["labels"][q]),
             "text query": (ct["codes"][q], ct["labels"][q])}
    for row, name in ((i2t, "image"), (t2i, "text")):
        attack = next((a for a in TSNE_ATTACK_PREFERENCE if row.at_protocol_eps(a)), None)
        if attack is not None and "codes" in _arrays(row, attack):
            parts[f"{name} query, {attack}"] = (_arrays(row, attack)["codes"][q],
                                                parts[f"{name} query"][1])
    out = base.with_name(base.name + "_tsne_modalities")
    key = inputs_hash(f"modalities {title} " + " | ".join(parts),
                      [a for pair in parts.values() for a in pair])
    if result.fresh(out, key):
        return
    emb = embed(np.concatenate([c for c, _ in parts.values()]))
    cmap = matplotlib.colormaps["tab10"]
    style = {"text database": ("^", 6, 0.25), "image database": ("o", 6, 0.25),
             "image query": ("o", 30, 0.9), "text query": ("^", 30, 0.9)}
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot()
    start = 0
    for name, (codes, labels) in parts.items():
        xy = emb[start:start + len(codes)]
        start += len(codes)
        marker, size, alpha = style.get(name, ("x" if name.startswith("image") else "+", 40, 0.9))
        edge: dict[str, Any] = {"edgecolors": "black", "linewidths": 0.4} if "query" in name and \
            marker in "o^" else {}
        ax.scatter(xy[:, 0], xy[:, 1], c=_first_label(labels), cmap=cmap, vmin=0,
                   vmax=cmap.N - 1, s=size, alpha=alpha, marker=marker, label=name, **edge)
    ax.set(title=f"t-SNE of image and text codes · {title}", xticks=[], yticks=[])
    ax.legend(loc="best", fontsize="x-small")
    _save(fig, out, result, key)
