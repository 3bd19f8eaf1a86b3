# ruff: noqa: E402 - torch is imported after the kernel pinning, on purpose
import os

from hashbench import cpu_kernels

cpu_kernels.pin()  # first, as the CLI does: the in-process runs use the protocol's kernels

import pytest
import torch

# `make test` runs two pytest workers (pytest-xdist) on the two cores: each worker, and every
# run it starts (the CLI reads OMP_NUM_THREADS), holds one thread, or four pools thrash on two
# cores. A plain `pytest` keeps one process with a pool of two.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else
                      min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def mnist():
    from hashbench.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def trained_mnist(mnist):
    """Vanilla DPSH 32 bits on embedded MNIST: the standard suite's optimiser, half its epochs (~10 s)."""
    from hashbench.kit.seeding import generator
    from hashbench.kit.training import TrainConfig, encode_split, fit
    from hashbench.models.hash_model import HashModel, ModelSpec
    from hashbench.registry import make_loss

    model = HashModel(ModelSpec("dpsh", "small_cnn", 32, 1, 10), seed=0)
    loss = make_loss("dpsh", mnist.train.labels, 32, generator(0, "loss"))
    cfg = TrainConfig(epochs=15, optimizer="adam", lr=1e-3, weight_decay=0.0)
    # one thread, whatever the runner: a plain `pytest` (two threads) would otherwise train
    # other weights than `make test`'s workers, and thresholds tuned on one fail on the other
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(model, mnist.train, lambda b, t: loss(model(b.x), b.y, b.idx), cfg, 0, "test")
    finally:
        torch.set_num_threads(threads)
    codes = {"train": encode_split(model, mnist.train),
             "database": encode_split(model, mnist.database)}
    return model.eval(), codes


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """A finished `hashbench run --suite smoke` (results folder and model cache), run once."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("smoke-shared")
    res = subprocess.run([sys.executable, "-m", "hashbench.cli", "run", "--suite", "smoke",
                          "--results", str(root / "results"), "--cache", str(root / "cache")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return root
