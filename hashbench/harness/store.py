"""Content-addressed cache of trained models and their codes, keyed by a hash of everything that
determines them (never by a name). Files are written atomically."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any, Callable

import torch

from hashbench.errors import HashbenchError, one_line
from hashbench.harness.locks import lock_for
from hashbench.harness.provenance import declared_code
from hashbench.kit.attack_kit import StateCache
from hashbench.models.crossmodal import build_model
from hashbench.records.io import atomic_write_bytes, config_hash, sha256_bytes


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.pt"

    def load_model(self, key: str, device: torch.device) -> tuple[torch.nn.Module, str] | None:
        """The cached model and its checkpoint sha256, or None when absent."""
        path = self._path("models", key)
        if not path.is_file():
            return None
        data = path.read_bytes()
        model = model_from_checkpoint(data, device, f"model cache entry {path}",
                                      "delete it to retrain")
        return model, sha256_bytes(data)

    def put_checkpoint(self, key: str, data: bytes) -> None:
        """Add a checkpoint whose bytes were checked elsewhere (the zoo's, by its sha256)."""
        atomic_write_bytes(self._path("models", key), data)

    def save_model(self, key: str, model: torch.nn.Module, meta: dict) -> str:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        buf = io.BytesIO()
        spec: Any = model.spec  # a hashbench model's spec (ModelSpec or CrossModalSpec)
        torch.save({"spec": spec.to_dict(), "state_dict": state, "meta": meta}, buf)
        data = buf.getvalue()
        atomic_write_bytes(self._path("models", key), data)
        return sha256_bytes(data)

    def checkpoint_sha256(self, key: str) -> str | None:
        """The sha256 of model ``key``'s checkpoint file (None when it is not cached)."""
        path = self._path("models", key)
        return sha256_bytes(path.read_bytes()) if path.is_file() else None

    def export(self, key: str) -> dict[str, bytes]:
        """The cache files of ``key`` (checkpoint, and codes once computed) by relative path,
        so a model can travel to a machine that does not share this cache."""
        out = {}
        for kind in ("models", "codes"):
            path = self._path(kind, key)
            if path.is_file():
                out[f"{kind}/{key}.pt"] = path.read_bytes()
        return out

    def has(self, key: str) -> bool:
        return self._path("models", key).is_file() and self._path("codes", key).is_file()

    def import_files(self, files: dict[str, bytes]) -> None:
        """Add exported files that are missing here (keys are content hashes, so a file that
        exists already holds the same model)."""
        for rel, data in files.items():
            kind, _, name = rel.partition("/")
            if kind not in ("models", "codes") or "/" in name or not name.endswith(".pt"):
                raise HashbenchError(f"not a model cache file: {rel!r}")
            path = self.root / kind / name
            if not path.is_file():
                atomic_write_bytes(path, data)

    def load_codes(self, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path("codes", key)
        if not path.is_file():
            return None
        try:
            codes = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(codes, dict) or not all(
                    isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in codes.items()):
                raise ValueError("not a dict of code tensors")
        except Exception as err:  # noqa: BLE001 - truncated, corrupt or foreign: all the same
            raise HashbenchError(f"codes cache entry {path} is unreadable: delete it and run "
                                 "again, the codes are recomputed from the model "
                                 f"({one_line(err, limit=160)})") from err
        return codes

    def save_codes(self, key: str, codes: dict[str, torch.Tensor]) -> None:
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in codes.items()}, buf)
        atomic_write_bytes(self._path("codes", key), buf.getvalue())


def model_from_checkpoint(data: bytes, device: torch.device, what: str,
                          fix: str = "replace the file") -> torch.nn.Module:
    """A model from a checkpoint's bytes (its spec and state dict; weights only, no pickled
    code), in eval mode on ``device``; an unreadable one raises naming ``what``."""
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model = build_model(ckpt["spec"], pretrained=False)
        model.load_state_dict(ckpt["state_dict"])
    except Exception as err:  # noqa: BLE001 - any failure means a corrupt checkpoint
        raise HashbenchError(f"{what} is unreadable: {fix} ({one_line(err, limit=160)})") from err
    return model.to(device).eval()


class AttackStates(StateCache):
    """The cache behind ``AttackContext.cached`` for one attacked model (``model_key``): fitted
    attack state under ``<cache>/attack_state/<key>.pt``, keyed by the model, the attack's name,
    version and parameters, the seed and the tag; written atomically, one writer
    per entry (a concurrent run waits and loads it). The code part is declared versions, as
    in a model's key (third-party attacks: their source bytes too)."""

    def __init__(self, store: ModelStore, model_key: str):
        self.store, self.model_key = store, model_key

    def fetch(self, attack, seed: int, tag: str, module: torch.nn.Module,
              fit: Callable[[torch.nn.Module], None]) -> None:
        key = config_hash({
            "model": self.model_key, "attack": attack.name, "version": attack.record_version,
            "params": dataclasses.asdict(attack.params), "seed": seed, "tag": tag,
            "code": declared_code(type(attack))})
        path = self.store.root / "attack_state" / f"{key}.pt"
        with lock_for(self.store.root, "attack_state", key):
            if path.is_file():
                try:
                    state = torch.load(path, map_location="cpu", weights_only=True)
                    module.load_state_dict(state)
                    return
                except Exception as err:  # noqa: BLE001 - any failure: fit it again
                    raise HashbenchError(
                        f"attack state cache entry {path} is unreadable: delete it to fit it "
                        f"again ({one_line(err, limit=160)})") from err
            fit(module)
            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buf)
            atomic_write_bytes(path, buf.getvalue())
