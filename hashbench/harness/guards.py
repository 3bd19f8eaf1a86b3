"""What the harness checks around plugin code it does not trust: that an attack leaves the
model's weights, buffers and mode as it found them, that no plugin draws from or reseeds a
global random generator, that a defense hands back a usable model, and that no cell runs longer
than its time limit.

Each check turns a broken plugin into a failed cell naming the plugin, instead of a silent
change to every later cell of the run (a mutated model is shared by all of them; a reseeded
global RNG changes whatever draws from it next).
"""

from __future__ import annotations

import hashlib
import random
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from hashbench.errors import HandedInModelError, PluginError, one_line


class ModelChangedError(PluginError):
    """An attack changed the model it was given; the runner drops that copy of the model."""


class CellTimeout(BaseException):
    """A cell ran past its time limit. A BaseException, so that a plugin's ``except Exception``
    cannot swallow it; the runner turns it into a failed record."""


def _hash_state(h, model: torch.nn.Module):
    for name, tensor in model.state_dict().items():
        t = tensor.detach().contiguous().cpu()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 of a model's state (names, dtypes, shapes, bytes): what identifies its weights."""
    return _hash_state(hashlib.sha256(), model).hexdigest()


def model_fingerprint(model: torch.nn.Module) -> str:
    """A hash of the model's state (as ``weights_sha256``) and of every submodule's train/eval
    flag: equal before and after an attack unless it changed the model. blake2b: it is taken
    twice per cell."""
    h = _hash_state(hashlib.blake2b(digest_size=16), model)
    h.update(bytes(m.training for m in model.modules()))
    return h.hexdigest()


@contextmanager
def unchanged_model(model: torch.nn.Module, plugin: str) -> Iterator[None]:
    """Raise ModelChangedError when the block changed ``model`` (weights, buffers such as batch
    norm statistics, or a module left in training mode)."""
    before = model_fingerprint(model)
    message = (f"{plugin} changed the model it attacks (its weights, buffers or train/eval "
               "mode); an attack must leave the model as it found it: compute on a copy, and "
               "use hashbench.kit.optim.eval_mode instead of model.train()")
    try:
        yield
    except HandedInModelError:
        raise
    except Exception as err:
        # a plugin that failed half way may have changed the model too: say so, so that the
        # runner drops this copy whichever way the attack ended
        if model_fingerprint(model) != before:
            raise ModelChangedError(f"{message} (and then raised {type(err).__name__}: "
                                    f"{err})") from err
        raise
    if model_fingerprint(model) != before:
        raise ModelChangedError(message)


def global_rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": np.random.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and \
            all(_same(x, y) for x, y in zip(a, b))
    return a == b


def restore_global_rngs(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def touched_global_rngs(before: dict) -> list[str]:
    after = global_rng_state()
    return [k for k in before if k not in after or not _same(before[k], after[k])]


@contextmanager
def global_rng_untouched(plugin: str) -> Iterator[None]:
    """Raise PluginError when the block drew from or reseeded torch's, numpy's or Python's
    global generator; the state is put back first, so nothing after the block depends on it."""
    before = global_rng_state()
    try:
        yield
    finally:
        touched = touched_global_rngs(before)
        if touched:  # put back whichever way the block ended
            restore_global_rngs(before)
    if touched:
        names = {"torch": "torch (torch.rand/randn/randint/randperm without generator=, "
                          "torch.manual_seed, dropout in train mode)",
                 "cuda": "torch.cuda", "numpy": "numpy (np.random.*)",
                 "python": "Python's random"}
        raise PluginError(
            f"{plugin} used the global random generator of {', '.join(names[t] for t in touched)};"
            " draw from the seeded generator the harness gives (ctx.rng(purpose)) so that "
            "other cells do not change")


def check_trained_model(model, defense: str) -> torch.nn.Module:
    """What a defense's ``fit`` returned, checked: a module whose parameters are all finite."""
    if not isinstance(model, torch.nn.Module):
        raise PluginError(f"defense '{defense}': fit returned {type(model).__name__}, not the "
                          "trained torch.nn.Module; return the model")
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    bad += [name for name, b in model.named_buffers()
            if b.is_floating_point() and not torch.isfinite(b).all()]
    if bad:
        raise PluginError(f"defense '{defense}': fit returned a model with non-finite weights "
                          f"({bad[0]}{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); "
                          "lower its learning rate or check its loss for NaN")
    return model


@contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise CellTimeout in the block after ``seconds`` (None or 0: no limit). A timer signal,
    so it works only in the main thread (elsewhere the block runs without a limit); it
    interrupts Python code, and native code at its next return to Python."""
    if not seconds or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise CellTimeout(f"{what} ran past its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def blame(plugin: str) -> Iterator[None]:
    """An exception escaping plugin code (TypeError, KeyError, ...) becomes a PluginError that
    names the plugin; hashbench's own errors pass unchanged."""
    from hashbench.errors import HashbenchError

    try:
        yield
    except HashbenchError:
        raise
    except SystemExit as err:  # sys.exit in a plugin ends its cell, not the run
        raise PluginError(f"{plugin} called sys.exit({err.code!r}); a plugin raises an "
                          "exception instead") from err
    except Exception as err:
        raise PluginError(f"{plugin} raised {one_line(err)}") from err
