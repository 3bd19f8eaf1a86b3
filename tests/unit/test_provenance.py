"""Model cache keys hold declared versions: hashbench's own code enters a key by
``MODEL_CODE_VERSION`` and each plugin's ``version``, a third party's by its source bytes too."""

import dataclasses
import os
import platform
import subprocess
import sys

import pytest
import torch

import hashbench
from hashbench.harness import provenance
from hashbench.harness.provenance import declared_code, source_fingerprint


def test_fingerprint_changes_with_any_source_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "b.py").write_text("y = 2\n")
    before = source_fingerprint.__wrapped__(str(tmp_path / "pkg"))
    (tmp_path / "pkg" / "b.py").write_text("y = 3\n")
    assert source_fingerprint.__wrapped__(str(tmp_path / "pkg")) != before


def test_first_party_code_is_keyed_by_declared_versions_only(monkeypatch):
    from hashbench.defenses.saat import SAAT
    from hashbench.methods.dpsh import DPSH

    before = declared_code(SAAT, DPSH)
    assert before == {"model_code": hashbench.MODEL_CODE_VERSION,
                      "plugins": {"defense:saat": 1, "method:dpsh": 1}}
    # no source file of hashbench is read: any edit of one leaves the key where it was
    real = provenance.source_fingerprint
    monkeypatch.setattr(provenance, "source_fingerprint", lambda p: real(p) + "edited")
    assert declared_code(SAAT, DPSH) == before
    # a declared version moves it
    monkeypatch.setattr(hashbench, "MODEL_CODE_VERSION", hashbench.MODEL_CODE_VERSION + 1)
    monkeypatch.setattr(provenance, "MODEL_CODE_VERSION", hashbench.MODEL_CODE_VERSION)
    assert declared_code(SAAT, DPSH) != before
    monkeypatch.undo()
    monkeypatch.setattr(SAAT, "version", 2)
    assert declared_code(SAAT, DPSH)["plugins"]["defense:saat"] == 2


def test_a_third_party_plugin_is_keyed_by_its_bytes_and_its_bases_versions(monkeypatch):
    from hashbench.defenses.cgat import CgAT

    class MyCgAT(CgAT):  # a third party's variant of a first-party defense
        name = "my_cgat"

    mine, cgat = declared_code(MyCgAT), declared_code(CgAT)
    assert mine["plugins"] == {"defense:cgat": 1, "defense:my_cgat": 1}
    assert "third_party_sources" in mine and "third_party_sources" not in declared_code(CgAT)
    real = provenance.source_fingerprint
    monkeypatch.setattr(provenance, "source_fingerprint",
                        lambda p: real(p) + ("x" if p.endswith("test_provenance.py") else ""))
    assert declared_code(MyCgAT) != mine and declared_code(CgAT) == cgat
    monkeypatch.undo()
    monkeypatch.setattr(CgAT, "version", 2)  # its base's version is part of it
    assert declared_code(MyCgAT)["plugins"]["defense:cgat"] == 2


def test_a_model_key_moves_with_a_version_not_with_a_release(tmp_path, monkeypatch):
    from hashbench.data import load_dataset
    from hashbench.harness.provision import Provisioner
    from hashbench.harness.store import ModelStore
    from hashbench.harness.suites import load_suite
    from hashbench.registry import defenses

    cell = next(c for c in load_suite("smoke").cells() if c.attack == "clean")
    data = load_dataset(cell.dataset)
    prov = Provisioner(ModelStore(tmp_path), torch.device("cpu"))
    key = prov.identity(cell, data, cell.defense).key
    monkeypatch.setattr(hashbench, "__version__", "9.9.9")
    entry = defenses.entry(cell.defense)
    monkeypatch.setattr(entry, "dist_version", "9.9.9")
    assert prov.identity(cell, data, cell.defense).key == key
    monkeypatch.setattr(defenses.get(cell.defense), "version", 7)
    assert prov.identity(cell, data, cell.defense).key != key
    # the suite's parameters of the defense still key the model
    other = dataclasses.replace(cell, defense_params={**cell.defense_params, "epochs": 99})
    monkeypatch.undo()
    assert prov.identity(other, data, cell.defense).key != key


def test_a_record_of_other_threads_or_kernels_is_not_taken_as_finished(monkeypatch):
    from hashbench.harness import work

    def rec(aten="AVX2", threads=1, mkl="AVX2"):
        return {"provenance": {"cpu_kernels": {"aten": aten, "threads": threads,
                                               "MKL_CBWR": mkl}}}

    monkeypatch.setattr(work, "mismatch", lambda: None)  # a pinned process
    monkeypatch.setattr(work.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert work._computed_otherwise(rec(), 1) is None
    assert work._computed_otherwise(rec(threads=2), None) is None  # the suite fixes none
    assert work._computed_otherwise(rec(threads=2), 1) == (
        "computed at 2 torch threads, the suite fixes 1")
    assert "AVX512 CPU kernels" in work._computed_otherwise(rec(aten="AVX512"), 1)
    assert work._computed_otherwise(rec(aten="DEFAULT"), 1) == (
        "computed on DEFAULT CPU kernels, not this run's AVX2")
    assert work._computed_otherwise({"provenance": {}}, 1) is None  # records older than both
    # before MKL's pin: its AVX-512 path or its AVX2 one, by the machine
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert work._computed_otherwise(rec(mkl=None), 1) == (
        "computed with MKL_CBWR=None, not this run's AVX2")
    assert work._computed_otherwise(rec(mkl=None), None) is None  # a v1/v2 suite's records
    # an unpinned process (hashbench.benchmark after torch) could not recompute pinned bytes
    monkeypatch.setattr(work, "mismatch", lambda: "torch runs AVX512 CPU kernels")
    assert work._computed_otherwise(rec(aten="AVX512"), None) is None


def test_mkl_off_its_pinned_path_is_a_kernel_mismatch(monkeypatch):
    # MKL picks its AVX-512 path where the CPU has one unless MKL_CBWR pins it: the weights of
    # every golden model moved between an AVX-512 machine and an AVX2 one without this pin
    from hashbench import cpu_kernels

    monkeypatch.setattr(cpu_kernels.platform, "machine", lambda: "x86_64")
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(cpu_kernels, "mkl_path", lambda: (12, "AVX512"))
    assert "torch runs MKL's AVX512 path, not the protocol's AVX2" in cpu_kernels.mismatch()
    monkeypatch.setattr(cpu_kernels, "mkl_path", lambda: (10, "AVX2"))
    assert cpu_kernels.mismatch() is None
    monkeypatch.setattr(cpu_kernels, "mkl_path", lambda: None)  # a torch without MKL
    assert cpu_kernels.mismatch() is None
    # an MKL that ignored MKL_CBWR (a CPU it does not take for Intel's, its vendor test left
    # as it was) reports no branch: that is not the pinned path either
    monkeypatch.setattr(cpu_kernels, "mkl_path", lambda: (2, "branch 2"))
    assert "runs a path of its own" in cpu_kernels.mismatch()


def test_this_process_runs_mkl_on_its_pinned_path():
    # the tests pin as the CLI does (conftest); a torch with MKL reports the AVX2 path
    from hashbench import cpu_kernels

    path = cpu_kernels.mkl_path()
    assert path is None or path == (10, "AVX2"), path


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64")
                    or not sys.platform.startswith("linux"), reason="MKL's x86 vendor test")
def test_mkl_s_vendor_test_is_rewritten_to_answer_intel():
    # in a fresh process, before torch: afterwards MKL takes the CPU for Intel's and honours
    # MKL_CBWR=AVX2 (an AMD EPYC reported branch 2 and trained other weights without it)
    code = ("import ctypes; from hashbench import cpu_kernels as k; "
            "lib = k._libtorch_cpu(); assert k._answer_intel(lib); "
            "print(ctypes.CDLL(lib).mkl_serv_intel_cpu_true()); "
            "k.pin(); import torch; print(k.mkl_path())")
    env = {**os.environ, "MKL_CBWR": "AVX2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["1", "(10, 'AVX2')"]
