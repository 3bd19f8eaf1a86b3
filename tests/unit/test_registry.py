"""Registry: discovery, close matches, collisions, broken plugins, api_version, listing."""

import sys
import textwrap

import pytest

from hashbench.errors import PluginError
from hashbench.registry import attacks, defenses, methods


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """Install a fake third-party distribution (module + dist-info) on sys.path."""

    def make(dist: str, module_src: str, attacks_eps: dict[str, str] = (), defenses_eps=()):
        mod = f"{dist.replace('-', '_')}_mod"
        (tmp_path / f"{mod}.py").write_text(textwrap.dedent(module_src))
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        eps = ""
        if attacks_eps:
            eps += "[hashbench.attacks]\n" + "".join(f"{k} = {mod}:{v}\n" for k, v in dict(attacks_eps).items())
        if defenses_eps:
            eps += "[hashbench.defenses]\n" + "".join(f"{k} = {mod}:{v}\n" for k, v in dict(defenses_eps).items())
        (info / "entry_points.txt").write_text(eps)
        return mod

    monkeypatch.syspath_prepend(str(tmp_path))
    attacks._clear()
    defenses._clear()
    yield make
    attacks._clear()
    defenses._clear()
    for name in [m for m in sys.modules if m.endswith("_mod")]:
        del sys.modules[name]


PLUGIN_SRC = """
from dataclasses import dataclass
from hashbench.api import Attack, Defense

@dataclass(frozen=True)
class P:
    eps: float = 0.1

class Good(Attack):
    name = "acme_noop"
    Params = P
    def perturb(self, model, x, batch, state, ctx):
        return x.clone()

class Future(Attack):
    name = "acme_future"
    api_version = 99
    Params = P

class Clash(Attack):
    name = "hag"
    Params = P

class Misnamed(Attack):
    name = "something_else"
    Params = P
"""


def test_first_party_plugins_are_discovered_through_entry_points():
    assert {"hag", "targeted_pgd", "p2p", "center_pgd"} <= set(attacks.names())
    assert "vanilla" in defenses.names()
    entry = attacks.entry("hag")
    assert entry.distribution == "hashbench" and not entry.third_party
    assert attacks.get("hag").name == "hag"


def test_unknown_name_lists_close_matches():
    with pytest.raises(PluginError, match=r"unknown attack 'hga'; did you mean [^?]*\bhag\b"):
        attacks.get("hga")


def test_third_party_plugin_is_found_and_marked(fake_dist):
    fake_dist("acme-hash", PLUGIN_SRC, attacks_eps={"acme_noop": "Good"})
    entry = attacks.entry("acme_noop")
    assert entry.third_party and entry.distribution == "acme-hash"
    assert attacks.get("acme_noop").name == "acme_noop"


def test_name_clash_names_both_distributions_and_others_keep_working(fake_dist):
    fake_dist("acme-hash", PLUGIN_SRC, attacks_eps={"hag": "Clash", "acme_noop": "Good"})
    with pytest.raises(PluginError, match="declared by both acme-hash and hashbench"):
        attacks.get("hag")
    assert attacks.get("acme_noop").name == "acme_noop"
    assert attacks.get("center_pgd").name == "center_pgd"


def test_api_version_mismatch_is_refused(fake_dist):
    fake_dist("acme-hash", PLUGIN_SRC, attacks_eps={"acme_future": "Future"})
    with pytest.raises(PluginError, match="api_version=99.*supports api_version \\[1\\]"):
        attacks.get("acme_future")


def test_broken_import_is_reported_with_its_cause(fake_dist):
    fake_dist("acme-broken", "raise ImportError('needs acme-core')\n",
              defenses_eps={"acme_broken": "X"})
    with pytest.raises(PluginError, match="failed to load .*needs acme-core"):
        defenses.get("acme_broken")
    assert defenses.get("vanilla").name == "vanilla"
    assert "needs acme-core" in defenses.entry("acme_broken").error


def test_class_name_must_equal_entry_point_name(fake_dist):
    fake_dist("acme-hash", PLUGIN_SRC, attacks_eps={"acme_x": "Misnamed"})
    with pytest.raises(PluginError, match="differs from its entry-point name"):
        attacks.get("acme_x")


def test_every_first_party_module_exports_a_registered_plugin():
    """One registration: a plugin module missing from pyproject's entry points fails here."""
    from pathlib import Path

    import hashbench.attacks as atk_pkg
    import hashbench.defenses as def_pkg
    import hashbench.methods as met_pkg

    for pkg, registry in ((atk_pkg, attacks), (def_pkg, defenses), (met_pkg, methods)):
        folder = Path(pkg.__file__).parent
        registered = {e.value.split(":")[0] for e in registry.entries()}
        for module in folder.glob("[!_]*.py"):  # _name.py: a family's shared module, no plugin
            assert f"{pkg.__name__}.{module.stem}" in registered, module


def test_a_users_own_attacks_folder_does_not_shadow_the_first_party_plugins(tmp_path):
    """The first-party plugins install as hashbench.attacks / .defenses / .methods: a project
    with its own top-level attacks/ package (first on sys.path) leaves them working."""
    import subprocess
    import sys

    for name in ("attacks", "defenses", "methods"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user project')\n")
    code = ("from hashbench.registry import attacks, defenses, methods;"
            "print(attacks.get('hag').__module__, defenses.get('saat').__module__,"
            " methods.get('dcmh').__module__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hashbench.attacks.hag", "hashbench.defenses.saat",
                                   "hashbench.methods.dcmh"]
