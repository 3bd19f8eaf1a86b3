"""`hashbench data download` against a local HTTP server on 127.0.0.1 serving a small CIFAR-10
fixture archive: a good archive lands loadable, a tampered one is refused and deleted, a hostile
one (a member outside its folder) is refused before anything is written."""

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from functools import partial

import numpy as np
import pytest
from click.testing import CliRunner

from hashbench.cli import cli
from hashbench.data import download as dl
from hashbench.data import load_dataset
from hashbench.errors import ConfigError, DataError

NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_archive(extra: dict[str, bytes] | None = None) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in NAMES:
            batch = {b"data": rng.integers(0, 256, (60, 3072), dtype=np.uint8),
                     b"labels": [i % 10 for i in range(60)]}
            data = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def serve(monkeypatch, served, url, archive: bytes, md5_of: bytes | None = None):
    (served / "cifar-10-python.tar.gz").write_bytes(archive)
    md5 = hashlib.md5(md5_of if md5_of is not None else archive).hexdigest()
    monkeypatch.setattr(dl, "SOURCES", {"cifar10": dl.Source(
        "cifar10", ((url + "cifar-10-python.tar.gz", "cifar-10-python.tar.gz", md5),),
        unpack="cifar-10-batches-py")})


def test_a_downloaded_dataset_is_in_place_and_loads(server, tmp_path, monkeypatch):
    served, url = server
    serve(monkeypatch, served, url, cifar_archive())
    res = CliRunner().invoke(cli, ["data", "download", "cifar10", "--data-root",
                                   str(tmp_path / "data")])
    assert res.exit_code == 0, res.output
    assert "cifar10: in" in res.output
    ds = load_dataset("cifar10", tmp_path / "data")
    assert len(ds.query) + len(ds.database) == 360
    again = CliRunner().invoke(cli, ["data", "download", "cifar10", "--data-root",
                                     str(tmp_path / "data")])
    assert again.exit_code == 0  # present and matching: nothing fetched again


def test_a_tampered_archive_is_refused_and_deleted(server, tmp_path, monkeypatch):
    served, url = server
    good = cifar_archive()
    tampered = bytearray(good)
    tampered[len(tampered) // 2] ^= 0xFF
    serve(monkeypatch, served, url, bytes(tampered), md5_of=good)
    with pytest.raises(DataError, match="did not match its md5"):
        dl.download("cifar10", tmp_path / "data")
    folder = tmp_path / "data" / "cifar10"
    assert not (folder / "cifar-10-python.tar.gz").exists()
    assert not (folder / "cifar-10-batches-py").exists()


def test_a_hostile_archive_writes_nothing_outside(server, tmp_path, monkeypatch):
    served, url = server
    serve(monkeypatch, served, url, cifar_archive({"../../evil.txt": b"pwned"}))
    with pytest.raises(DataError, match="refusing to unpack"):
        dl.download("cifar10", tmp_path / "data")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "data" / "evil.txt").exists()


def test_unreachable_and_unknown_sources_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "SOURCES", {"cifar10": dl.Source(
        "cifar10", (("http://127.0.0.1:9/none.tar.gz", "none.tar.gz", "0" * 32),),
        unpack="cifar-10-batches-py")})
    with pytest.raises(DataError, match="cannot download"):
        dl.download("cifar10", tmp_path)
    with pytest.raises(ConfigError, match="place its list files by hand"):
        dl.download("nus_wide", tmp_path)
    with pytest.raises(ConfigError, match="did you mean cifar10"):
        dl.download("cifar100", tmp_path)
