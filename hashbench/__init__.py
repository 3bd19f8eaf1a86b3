"""hashbench: a benchmark for the adversarial robustness of deep-hashing retrieval."""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# The version of the training numerics of hashbench's own code (the plugin kit, the models, the
# losses' memory bank, the batching of a split): part of every model's cache key, beside each
# plugin's declared ``version``. Bump it by hand when a change to that code trains other weights
# (the golden tests in tests/golden name it when they catch such a change); a release, a
# docstring or a refactor that trains the same weights leaves it, and every cached and published
# model keeps its key (docs/versions.md).
MODEL_CODE_VERSION = 1

# importing hashbench changes nothing in the process but the version-1 paths below: the CPU
# kernel pinning is the run entry points' (hashbench.cpu_kernels)


# The plugin API's version-1 module paths (``hashbench.training``, ``hashbench.optim``...) name
# the building blocks that now live in ``hashbench.kit``: a plugin written against version 1
# imports them unchanged and gets the very same module objects (not copies), so there is one
# place for each piece of code and no shim file per old path.
KIT_MODULES = ("attack_kit", "defense_kit", "prototypes", "optim", "codes",
               "retrieval_objective", "apgd", "params", "training", "seeding", "citations")
_V1_PATHS = {f"hashbench.{m}": f"hashbench.kit.{m}" for m in KIT_MODULES}


class _V1Path(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves a version-1 path to the kit's module itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _V1_PATHS:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(_V1_PATHS[spec.name])
        spec.loader_state = module.__spec__  # the import system replaces it; put it back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(f, _V1Path) for f in sys.meta_path):
    sys.meta_path.append(_V1Path())


def load_model(name: str, seed: int = 0, device: str = "cpu"):
    """A published model from the zoo (``hashbench zoo`` lists them), sha256-checked, in eval
    mode; e.g. ``load_model("standard-v2/mnist/dpsh-small_cnn-32b/cgat", seed=0)``."""
    from hashbench.zoo import load_model as _load

    return _load(name, seed, device)


def benchmark(model, dataset: str = "mnist", **options):
    """Measure any trained hashing ``nn.Module`` (images in [0,1] -> K real outputs) as a cell
    of a suite (RobustBench's name for it; ``hashbench.harness.evaluate`` is the harness's), or
    an image-text model given as ``(image_net, text_net)`` on ``mnist_multi``: see
    :func:`hashbench.python_api.benchmark`."""
    from hashbench.python_api import benchmark as _benchmark

    return _benchmark(model, dataset, **options)


def attack(name: str, eps: float, seed: int = 0, **params):
    """A registered attack as a callable for scripts: ``atk = hashbench.attack("center_pgd",
    eps=0.3); x_adv = atk(model, images, labels, database=(codes, labels))``; any module
    returning K real outputs works (see :class:`hashbench.script_attack.ScriptAttack`)."""
    from hashbench.script_attack import ScriptAttack

    return ScriptAttack(name, eps, seed, **params)
