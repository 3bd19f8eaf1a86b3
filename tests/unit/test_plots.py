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


def code_row(seed: int, n: int, adv_sign: int = -1) -> tuple[Row, np.ndarray]:
    """A row with clean codes and labels (and database samples) and a HAG cell whose codes
    are ``adv_sign`` times the clean ones; returns it with the clean codes."""
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((n, 16)) < 0.5, 1, -1).astype(np.int8)
    labels = np.eye(3, dtype=np.uint8)[np.arange(n) % 3]
    clean = {"codes": codes, "labels": labels, "db_sample_codes": codes,
             "db_sample_labels": labels}
    return Row("m", "vanilla", {"clean": [(rec(0.3, None, sweep=False), clean)],
                                "hag": [(rec(0.3, 0.1, sweep=False),
                                         {"codes": adv_sign * codes})]}), codes


def test_eps_sweep_draws_one_line_per_defense_and_attack(tmp_path):
    rows = [Row("dpsh-small_cnn", d, {"center_pgd": [(rec(e, m), {}) for e, m in pts]})
            for d, pts in (("vanilla", [(0.1, 0.5), (0.3, 0.05)]),
                           ("cgat", [(0.1, 0.8), (0.3, 0.4)]))]
    result = PlotResult()
    plot_eps_sweeps(rows, "mnist", tmp_path / "eps_sweep", result)
    assert sorted(p.name for p in result.written) == ["eps_sweep.png", "eps_sweep.svg"]
    svg = (tmp_path / "eps_sweep.svg").read_text()
    assert "vanilla center_pgd" not in svg
    assert "dpsh-small_cnn vanilla / center_pgd" in svg and "cgat / center_pgd" in svg


def test_seeds_at_one_eps_are_no_sweep(tmp_path):
    """Three seeds measured at the protocol's eps alone: one point per line, so no figure
    (it used to draw one legend entry per row and attack for a single eps)."""
    seeds = [(rec(0.3, m), {}) for m in (0.20, 0.25, 0.30)]
    rows = [Row("m", "cgat", {"hag": seeds})]
    result = PlotResult()
    plot_eps_sweeps(rows, "mnist", tmp_path / "eps_sweep", result)
    assert result.written == []


def test_no_sweep_no_figure(tmp_path):
    rows = [Row("m", "vanilla", {"hag": [(rec(0.3, 0.1, sweep=False), {})]})]
    result = PlotResult()
    plot_eps_sweeps(rows, "mnist", tmp_path / "eps_sweep", result)
    assert result.written == []


def test_tsne_map_is_drawn_from_codes_alone(tmp_path):
    row, _ = code_row(0, 60)
    result = PlotResult()
    plot_tsne(row, "t", tmp_path / "x", result)
    assert sorted(p.name for p in result.written) == ["x_tsne.png", "x_tsne.svg"]
    first = (tmp_path / "x_tsne.png").read_bytes()
    plot_tsne(row, "t", tmp_path / "x", PlotResult())
    assert (tmp_path / "x_tsne.png").read_bytes() == first  # the same bytes again


def test_a_figure_is_drawn_again_only_when_its_inputs_change(tmp_path):
    """The cache of figures: unchanged inputs (and files in place) skip the drawing; changed
    inputs, a deleted file or a damaged cache index draw it again."""
    from hashbench.report.plots import _read_inputs

    def render(adv_sign):
        row, _ = code_row(0, 40, adv_sign)
        result = PlotResult(folder=tmp_path, old=_read_inputs(tmp_path))
        plot_tsne(row, "t", tmp_path / "x", result)
        import json
        (tmp_path / "inputs.json").write_text(json.dumps(result.kept))
        return result

    first = render(-1)
    assert len(first.written) == 2 and first.unchanged == 0
    again = render(-1)
    assert again.written == [] and again.unchanged == 1
    assert len(render(1).written) == 2  # other adversarial codes: drawn again
    (tmp_path / "x_tsne.svg").unlink()
    assert len(render(1).written) == 2  # a file gone: drawn again
    (tmp_path / "inputs.json").write_text("{not json")
    assert len(render(1).written) == 2  # a damaged index: everything drawn again
    # a figure of a row no record has any more goes with the report's manifest of what it
    # wrote (tests/faults/test_board_faults.py), never by a guess from the folder
    assert render(1).written == [] and (tmp_path / "x_tsne.png").exists()


def test_a_board_elsewhere_copies_the_figures_another_board_drew_from_the_same_inputs(tmp_path):
    from hashbench.report.plots import _read_inputs

    row, _ = code_row(1, 40)
    shipped, mine = tmp_path / "shipped", tmp_path / "mine"
    first = PlotResult(folder=shipped)
    plot_tsne(row, "t", shipped / "x", first)
    import json
    (shipped / "inputs.json").write_text(json.dumps(first.kept))
    elsewhere = PlotResult(folder=mine, others=[(shipped, _read_inputs(shipped))])
    plot_tsne(row, "t", mine / "x", elsewhere)
    assert elsewhere.written == [] and elsewhere.unchanged == 1
    assert (mine / "x_tsne.png").read_bytes() == (shipped / "x_tsne.png").read_bytes()
