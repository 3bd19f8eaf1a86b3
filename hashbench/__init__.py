"""hashbench: a benchmark for the adversarial robustness of deep-hashing retrieval."""

import os

__version__ = "0.1.0"

# torch picks its CPU kernels per machine (AVX2, AVX-512...) in two places, ATen's own kernels and
# oneDNN's convolutions, and a different kernel rounds differently: training is chaotic enough
# that a defense's clean mAP moved by 0.08 between two x86 machines. Capping both at AVX2 (which
# every x86-64 CPU of the last decade has) reproduced the published standard records bit for bit,
# checkpoints included, on an AVX-512 machine whose default kernels gave other checkpoints (ATen
# alone was not enough there: the convolutions differed). Both are read once, when torch starts,
# so they are set here, on import of hashbench, before torch; a value already in the environment
# wins, and each record's provenance holds the levels in force.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")


def load_model(name: str, seed: int = 0, device: str = "cpu"):
    """A published model from the zoo (``hashbench zoo`` lists them), sha256-checked, in eval
    mode; e.g. ``load_model("standard-v2/mnist/dpsh-small_cnn-32b/cgat", seed=0)``."""
    from hashbench.zoo import load_model as _load

    return _load(name, seed, device)


def benchmark(model, dataset: str = "mnist", **options):
    """Measure any trained hashing ``nn.Module`` (images in [0,1] -> K real outputs) as a cell
    of a suite (RobustBench's name for it; ``hashbench.harness.evaluate`` is the harness's module), or
    an image-text model given as ``(image_net, text_net)`` on ``mnist_multi``: see
    :func:`hashbench.python_api.benchmark`."""
    from hashbench.python_api import benchmark as _benchmark

    return _benchmark(model, dataset, **options)


def attack(name: str, eps: float, seed: int = 0, **params):
    """A registered attack as a callable for scripts: ``atk = hashbench.attack("center_pgd",
    eps=0.3); x_adv = atk(model, images, labels, database=(codes, labels))``; any module
    returning K real outputs works (see :class:`hashbench.python_api.ScriptAttack`)."""
    from hashbench.python_api import ScriptAttack

    return ScriptAttack(name, eps, seed, **params)
