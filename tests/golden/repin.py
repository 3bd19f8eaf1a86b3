"""Rewrite tests/golden/weights.json: the sha256 of every golden model's weights under the
current code. Run it after bumping ``hashbench.MODEL_CODE_VERSION`` or a plugin's ``version``
(a golden test says which): ``python tests/golden/repin.py [CASE ...]``."""

# ruff: noqa: E402 - the kernels are pinned before torch is imported, as the CLI does
import sys
import tempfile
from pathlib import Path

from hashbench import cpu_kernels

cpu_kernels.pin()

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json

from golden_models import CASES, PINS, load_pins, pin, train_case  # noqa: I001


def main(cases: list[str]) -> None:
    pins = load_pins()
    for case in cases or sorted(CASES):
        if case not in CASES:
            raise SystemExit(f"unknown golden case {case!r}; cases: {', '.join(sorted(CASES))}")
        with tempfile.TemporaryDirectory() as cache:
            pins[case] = pin(case, train_case(case, Path(cache)))
        print(f"{case}: {pins[case]['weights_sha256']}")
    PINS.write_text(json.dumps(dict(sorted(pins.items())), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
