"""Golden models: every first-party defense and hashing method trains, a few steps on a tiny
slice, to the weights its pin says (tests/golden/models.py). A change that moves them without a
version bump fails here in one line naming the version to bump."""

import pytest
from golden_models import CASES, load_pins, train_case, verdict


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_model_weights_are_pinned(case, tmp_path):
    problem = verdict(case, train_case(case, tmp_path), load_pins().get(case))
    if problem:
        pytest.fail(problem, pytrace=False)
