"""Plots from sidecar arrays: an eps sweep draws a robustness curve; a t-SNE map from codes."""

import numpy as np
from record_factory import complete  # tests/record_factory.py

from hashbench.records.types import Record
from hashbench.report.plots import PlotResult, Row, plot_eps_sweeps, plot_tsne


def rec(eps, robust, sweep=True):
    metrics = {"eps": eps, "topk": None, "clean_map": 0.9,
               **({"map": robust} if robust is not None else {})}
    return Record.from_dict(complete({"cell": {"eps": eps if sweep else None},
                                      "metrics": metrics}))


def test_eps_sweep_draws_one_line_per_defense_and_attack(tmp_path):
    rows = [Row("dpsh-small_cnn", d, {"center_pgd": [(rec(e, m), {}) for e, m in pts]})
            for d, pts in (("vanilla", [(0.1, 0.5), (0.3, 0.05)]),
                           ("cgat", [(0.1, 0.8), (0.3, 0.4)]))]
    result = PlotResult()
    plot_eps_sweeps(rows, "mnist", tmp_path / "all", result)
    assert sorted(p.name for p in result.written) == ["all_eps.png", "all_eps.svg"]
    svg = (tmp_path / "all_eps.svg").read_text()
    assert "vanilla / center_pgd" in svg and "cgat / center_pgd" in svg


def test_no_sweep_no_figure(tmp_path):
    rows = [Row("m", "vanilla", {"hag": [(rec(0.3, 0.1, sweep=False), {})]})]
    result = PlotResult()
    plot_eps_sweeps(rows, "mnist", tmp_path / "all", result)
    assert result.written == []


def test_tsne_map_is_drawn_from_codes_alone(tmp_path):
    rng = np.random.default_rng(0)
    codes = np.where(rng.random((60, 16)) < 0.5, 1, -1).astype(np.int8)
    labels = np.eye(3, dtype=np.uint8)[np.arange(60) % 3]
    clean = {"codes": codes, "labels": labels, "db_sample_codes": codes,
             "db_sample_labels": labels}
    row = Row("m", "vanilla", {"clean": [(rec(0.3, None, sweep=False), clean)],
                               "hag": [(rec(0.3, 0.1, sweep=False), {"codes": -codes})]})
    result = PlotResult()
    plot_tsne(row, "t", tmp_path / "x", result)
    assert sorted(p.name for p in result.written) == ["x_tsne.png", "x_tsne.svg"]
    first = (tmp_path / "x_tsne.png").read_bytes()
    plot_tsne(row, "t", tmp_path / "x", PlotResult())
    assert (tmp_path / "x_tsne.png").read_bytes() == first  # the same bytes again
