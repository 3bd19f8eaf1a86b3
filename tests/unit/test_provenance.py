"""Model cache keys follow the code: a changed source file (core or plugin) means a new key."""

from hashbench.harness.provenance import code_fingerprint, source_fingerprint


def test_fingerprint_changes_with_any_source_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "b.py").write_text("y = 2\n")
    before = source_fingerprint.__wrapped__(str(tmp_path / "pkg"))
    (tmp_path / "pkg" / "b.py").write_text("y = 3\n")
    assert source_fingerprint.__wrapped__(str(tmp_path / "pkg")) != before


def test_a_subclassed_plugin_carries_its_base_module(monkeypatch):
    from hashbench.defenses.cgat import CgAT
    from hashbench.defenses.saat import SAAT

    from hashbench.harness import provenance

    class MyCgAT(CgAT):  # a third party's variant of a first-party defense
        name = "my_cgat"

    saat, cgat, mine = code_fingerprint(SAAT), code_fingerprint(CgAT), code_fingerprint(MyCgAT)
    assert len({saat, cgat, mine}) == 3
    real = provenance.source_fingerprint

    def edited(name):
        return lambda p: real(p) + ("x" if p.endswith(name) else "")

    # a change in cgat.py is a change of the subclass's models too, not of SAAT's
    monkeypatch.setattr(provenance, "source_fingerprint", edited("cgat.py"))
    assert code_fingerprint(MyCgAT) != mine and code_fingerprint(SAAT) == saat
    # the shared loop in the plugin API is a change of both
    monkeypatch.setattr(provenance, "source_fingerprint", edited("defense_kit.py"))
    assert code_fingerprint(SAAT) != saat and code_fingerprint(CgAT) != cgat


def test_a_model_key_follows_its_training_code_not_the_cli_or_the_report(monkeypatch):
    from hashbench.defenses.vanilla import Vanilla
    from hashbench.methods.dpsh import DPSH

    from hashbench.harness import provenance

    before = code_fingerprint(Vanilla, DPSH)
    real = provenance.source_fingerprint

    def edited(name):
        return lambda p: real(p) + ("x" if p.endswith(name) else "")

    for name in ("cli.py", "leaderboard.py", "runner.py", "plots.py", "metrics_cpu.py"):
        monkeypatch.setattr(provenance, "source_fingerprint", edited(name))
        assert code_fingerprint(Vanilla, DPSH) == before, name
    for name in ("training.py", "dpsh.py", "vanilla.py", "models"):  # models: the backbones
        monkeypatch.setattr(provenance, "source_fingerprint", edited(name))
        assert code_fingerprint(Vanilla, DPSH) != before, name
