"""Defenses: what selfcheck's rules (run over the registry by test_selfcheck_registry.py: the
model returned, binary codes, finite weights, determinism, data untouched, global RNG) do not
say: the docstring and metadata sections."""


import pytest

from hashbench.registry import defenses


@pytest.mark.parametrize("name", defenses.names())
def test_metadata_complete(name):
    cls = defenses.get(name)
    assert cls.citation is not None and cls.citation.url
    assert cls.__doc__ and "Example" in cls.__doc__ and "Threat model" in cls.__doc__
    assert cls.starts_from == "scratch" or defenses.get(cls.starts_from).modality == cls.modality
