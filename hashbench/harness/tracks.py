"""What differs between the two tracks, image hashing and image-text hashing, in one small object
per track, so that the provisioner, the runner and the record read ``cell.track`` instead of
branching on ``cell.direction``.

A track knows its model (spec, fresh model, codes), its method's key and record parts, the
protocol hash its cells depend on, how a direction of a cell sees the model, and what a record
adds for it. Image cells have no direction; image-text cells have two ("i2t": image queries
retrieve texts, "t2i": the reverse).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from hashbench.errors import DataError, PluginError
from hashbench.kit.training import encode_split, encode_texts
from hashbench.models.crossmodal import CrossModalHashModel, CrossModalSpec
from hashbench.models.hash_model import HashModel, ModelSpec


@dataclass(frozen=True)
class ImageTrack:
    name: str = "image"
    baseline: str = "vanilla"

    def spec(self, fields: dict, data) -> ModelSpec:
        return ModelSpec(**fields)

    def new_model(self, spec, seed: int) -> torch.nn.Module:
        return HashModel(spec, seed=seed)

    def method(self, cell):
        """(the method plugin, its part of the model key, its record reference or None)."""
        from hashbench.registry import image_method

        method = image_method(cell.method)
        return method, {"hash_params": method.hash_params()}, None

    def protocol_hash(self, data) -> str:
        return data.protocol_hash

    def codes(self, model, data) -> dict[str, torch.Tensor]:
        return {"train": encode_split(model, data.train),
                "database": encode_split(model, data.database)}

    def view(self, prov, direction: str | None):
        return prov

    def configure(self, ctx, method, data) -> None:
        """Anything the training context of this track needs beyond the hashing loss."""

    def record_metrics(self, cell, data) -> dict:
        return {}

    def record_hashes(self, data) -> dict:
        return dict(data.hashes)


@dataclass(frozen=True)
class ImageTextTrack:
    name: str = "image-text"
    baseline: str = "cm_vanilla"

    def spec(self, fields: dict, data) -> CrossModalSpec:
        if not data.has_texts:
            raise DataError(f"{data.name}: image-text cells need a tag vector per image and "
                            "this dataset has none; use mnist_multi, or add the text matrices "
                            "(train_text.npy, test_text.npy, database_text.npy) beside its "
                            "list files")
        return CrossModalSpec(**fields, text_dim=data.text_dim)

    def new_model(self, spec, seed: int) -> torch.nn.Module:
        return CrossModalHashModel(spec, seed=seed)

    def method(self, cell):
        from hashbench.registry import methods, plugin_ref

        method = methods.create(cell.method, **cell.method_params)
        ref = plugin_ref(methods, cell.method, method)
        return method, {"method": ref}, ref

    def protocol_hash(self, data) -> str:
        return data.paired_protocol_hash

    def codes(self, model, data) -> dict[str, torch.Tensor]:
        return {f"{split}_{side}": (encode_split(model.image, getattr(data, split))
                                    if side == "image" else
                                    encode_texts(model.text, getattr(data, split).texts))
                for split in ("train", "database") for side in ("image", "text")}

    def view(self, prov, direction: str | None):
        """The model as one direction sees it: the query side's network, and the codes of the
        side it retrieves as "train" and "database" (what attacks and metrics read)."""
        query = "image" if direction == "i2t" else "text"
        other = "text" if query == "image" else "image"
        return dataclasses.replace(prov, model=prov.model.net(query),
                                   codes={"train": prov.codes[f"train_{other}"],
                                          "database": prov.codes[f"database_{other}"]})

    def configure(self, ctx, method, data) -> None:
        ctx.make_objective = lambda m: method.objective(m, data.train, ctx)
        ctx.make_hash_loss = no_hash_loss

    def record_metrics(self, cell, data) -> dict:
        return {"direction": cell.direction,
                "text_flips": int(cell.flips(data.text_flips) or 0)}

    def record_hashes(self, data) -> dict:
        return {**data.hashes, **{f"text_{k}": v for k, v in data.text_hashes.items()}}


def no_hash_loss():
    """``TrainContext.make_hash_loss`` of an image-text model, which has none."""
    raise PluginError("an image-text model has no single-modal hashing loss; an image-text "
                      "defense trains with ctx.make_objective(model)")


IMAGE, IMAGE_TEXT = ImageTrack(), ImageTextTrack()
TRACKS: dict[str, ImageTrack | ImageTextTrack] = {IMAGE.name: IMAGE, IMAGE_TEXT.name: IMAGE_TEXT}
