"""Mixed-precision training (``run --amp``): autocast in the training step, fp32 attacks.

On the CPU autocast uses bf16, which exercises the same code path a CUDA run takes with fp16.
"""

import json

import torch
from click.testing import CliRunner

from hashbench.cli import cli
from hashbench.data import load_dataset
from hashbench.kit.optim import projected_descent
from hashbench.kit.training import TrainConfig, fit
from hashbench.models.hash_model import HashModel, ModelSpec
from hashbench.registry import make_loss


def _train(amp: bool) -> HashModel:
    data = load_dataset("mnist")
    train = data.train.subset(torch.arange(256))
    model = HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, 10), seed=0)
    loss = make_loss("dpsh", train.labels, 16, torch.Generator().manual_seed(0))
    seen = []

    def step(batch, t):
        out = model(batch.x)
        seen.append(out.dtype)
        return loss(out, batch.y, batch.idx)

    cfg = TrainConfig(epochs=1, optimizer="adam", lr=1e-3, weight_decay=0.0)
    fit(model, train, step, cfg, seed=0, scope="amp-test", amp=amp)
    return model, set(seen)


def test_amp_trains_under_autocast_keeps_fp32_weights_and_is_deterministic():
    fp32, dtypes32 = _train(False)
    amp, dtypes_amp = _train(True)
    amp2, _ = _train(True)
    assert dtypes32 == {torch.float32} and dtypes_amp == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in amp.parameters())
    w32, wa, wa2 = (m.hash_layer.weight for m in (fp32, amp, amp2))
    assert not torch.equal(w32, wa)  # autocast really changed the arithmetic
    assert torch.equal(wa, wa2)
    assert (w32 - wa).abs().max() < 0.05  # and it is still the same training


def test_attacks_stay_fp32_inside_an_autocast_region():
    model = HashModel(ModelSpec("dpsh", "small_cnn", 16, 1, 10), seed=0).eval()
    x = load_dataset("mnist").query.images(torch.arange(8))
    ref = torch.ones(8, 16)

    def attack():
        return projected_descent(model, x, lambda out, t: (out * ref).sum(1), eps=0.1, step=0.02,
                                 steps=3)

    plain = attack()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = attack()
    assert inside.dtype == torch.float32 and torch.equal(plain, inside)


def test_amp_run_is_recorded_flagged_and_not_confused_with_fp32(tmp_path):
    args = ["run", "--suite", "smoke", "--only", "attack=clean", "--results",
            str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    path = tmp_path / "r/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla/clean.json"
    fp32 = json.loads(path.read_text())
    res = runner.invoke(cli, [*args, "--amp"])
    assert res.exit_code == 0, res.output
    assert "1 cells computed" in res.output  # the fp32 record was not reused
    amp = json.loads(path.read_text())
    assert fp32["provenance"]["precision"] == "fp32"
    assert amp["provenance"]["precision"] == "amp-bf16"
    assert amp["config_hash"] != fp32["config_hash"]
    assert amp["model"]["cache_key"] != fp32["model"]["cache_key"]
    report = runner.invoke(cli, ["report", "--results", str(tmp_path / "r"),
                                   "--out", str(tmp_path / "lb"), "--no-plots"])
    assert report.exit_code == 0, report.output
    (board,) = (tmp_path / "lb").glob("*.csv")
    assert "trained with amp-bf16" in board.read_text()
