"""Complete result records for tests that only care about a few keys: a partial record (suite,
cell attack, model names, metrics...) filled in from the oldest historic fixture, so the board
and the plots read it as the typed records they are given in a run."""

import copy
import json
from pathlib import Path

TEMPLATE = json.loads((Path(__file__).parent / "fixtures/records/v1/"
                       "01_433709f_standard_mnist_dpsh-small_cnn-32b_atrdh_clean.json").read_text())


def complete(partial: dict) -> dict:
    """``partial`` over the template: its metrics exactly, its other parts merged key by key
    (a model without a checkpoint sha has none; an attack gets a full plugin reference)."""
    rec = copy.deepcopy(TEMPLATE)
    rec["metrics"] = dict(partial["metrics"])
    rec["suite"] = dict(partial.get("suite", rec["suite"]))
    rec["dataset"].update(partial.get("dataset", {}))
    rec["cell"].update(partial.get("cell", {}))
    model = dict(partial.get("model", {}))
    defense = {**rec["model"]["defense"], **model.pop("defense", {})}
    rec["model"].update(checkpoint_sha256=None, cache_key=None, **model, defense=defense)
    attack = partial.get("attack")
    rec["attack"] = None if attack is None else {
        "name": rec["cell"]["attack"], "version": 1, "params": {}, "distribution": "hashbench",
        "dist_version": "0.1.0", "third_party": False, **attack}
    rec["status"], rec["error"] = partial.get("status", "ok"), partial.get("error")
    rec["provenance"]["git_dirty"] = False  # a partial record says nothing of its tree
    return rec


def ensemble(masking_suspected: bool, blackbox_gain: float) -> dict:
    return {"stages": ["center_pgd", "square_hash"], "damage_by": {"center_pgd": 1},
            "whitebox_map": 0.3, "blackbox_gain": blackbox_gain, "masking_margin": 0.05,
            "masking_suspected": masking_suspected}
