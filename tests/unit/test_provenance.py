"""Model cache keys follow the code: a changed source file (core or plugin) means a new key."""

from hashbench.provenance import code_fingerprint, source_fingerprint


def test_fingerprint_changes_with_any_source_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "b.py").write_text("y = 2\n")
    before = source_fingerprint.__wrapped__(str(tmp_path / "pkg"))
    (tmp_path / "pkg" / "b.py").write_text("y = 3\n")
    assert source_fingerprint.__wrapped__(str(tmp_path / "pkg")) != before


def test_a_subclassed_plugin_carries_its_base_module():
    from hashbench.defenses.cgat import CgAT
    from hashbench.defenses.saat import SAAT

    saat, cgat = code_fingerprint(SAAT).split(":"), code_fingerprint(CgAT).split(":")
    assert len(saat) == 3 and len(cgat) == 2
    assert saat[0] == cgat[0] and cgat[1] in saat[1:]
