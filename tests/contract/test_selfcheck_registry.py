"""One contract: `hashbench selfcheck`'s rules, run over every registered plugin of every kind
(image and text attacks, image and image-text defenses, image and image-text methods), first- or
third-party. A plugin added with one file and one entry-point line is covered here without
editing this test."""

import pytest

from hashbench.registry import attacks, defenses, methods
from hashbench.selfcheck import plugin_checks

PLUGINS = [(reg.kind, name) for reg in (attacks, defenses, methods) for name in reg.names()]
REGISTRIES = {"attack": attacks, "defense": defenses, "method": methods}


@pytest.mark.parametrize("kind, name", PLUGINS, ids=[f"{k}-{n}" for k, n in PLUGINS])
def test_every_registered_plugin_passes_selfcheck(kind, name):
    checks = plugin_checks(kind, REGISTRIES[kind].get(name))
    failed = [f"{c.rule}: {c.detail} (fix: {c.fix})" for c in checks if not c.passed]
    assert not failed, failed
    assert len(checks) >= 8


def test_the_registry_holds_every_kind():
    kinds = {(k, REGISTRIES[k].get(n).modality) for k, n in PLUGINS}
    assert {("attack", "image"), ("attack", "text"), ("defense", "image"),
            ("defense", "image-text"), ("method", "image"), ("method", "image-text")} <= kinds
