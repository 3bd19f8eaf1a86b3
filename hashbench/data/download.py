"""``hashbench data download``: the datasets whose licence lets them be fetched, through
torchvision's own downloaders and with torchvision's own checksums (md5 of every file; a file
that does not match is deleted and refused), into the data root where the loaders look.

CIFAR-10's archive is unpacked here, not by torchvision: only regular files under
``cifar-10-batches-py/`` are written (no absolute paths, no ``..``, no links), so a hostile
archive cannot write outside the data root. The batches are then read by the restricted
unpickler of ``literature.load_cifar10``.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hashbench.errors import ConfigError, DataError, one_line
from hashbench.progress import NULL_PROGRESS, Progress


@dataclass(frozen=True)
class Source:
    folder: str  # under the data root: where the dataset's loader looks
    files: tuple[tuple[str, str, str], ...]  # (url, file name, md5)
    unpack: str | None = None  # the one top-level folder an archive may hold


def _sources() -> dict[str, Source]:
    from torchvision.datasets import CIFAR10, FashionMNIST

    return {
        "cifar10": Source("cifar10", ((CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5),),
                          unpack=CIFAR10.base_folder),
        "fashion_mnist": Source("fashion_mnist", tuple(
            (FashionMNIST.mirrors[0] + name, name, md5) for name, md5 in FashionMNIST.resources)),
    }


SOURCES: dict[str, Source] = {}  # filled on first use (torchvision is imported then)
# datasets whose distribution needs an account or a licence agreement: placed by hand
BY_HAND = ("nus_wide", "ms_coco", "flickr25k", "imagenet100")


def sources() -> dict[str, Source]:
    if not SOURCES:
        SOURCES.update(_sources())
    return SOURCES


def download(name: str, root: Path | None, progress: Progress = NULL_PROGRESS) -> Path:
    """Fetch dataset ``name`` into ``root``; return its folder. Files already there and matching
    their md5 are kept (a second call downloads nothing)."""
    from torchvision.datasets.utils import check_integrity, download_url

    from hashbench.errors import close_matches

    known = sources()
    if name not in known:
        if name in BY_HAND:
            raise ConfigError(f"{name} cannot be downloaded (its distribution needs an account "
                              "or a licence agreement): get it from its distributor, then place its "
                              f"list files by hand or build them with `hashbench data prepare "
                              f"{name} --from DIR`")
        raise ConfigError(f"no download for dataset {name!r}{close_matches(name, known)}; "
                          f"downloadable: {', '.join(sorted(known))}")
    if root is None:
        raise ConfigError("no data root: pass --data-root DIR or set HASHBENCH_DATA")
    src = known[name]
    folder = Path(root) / src.folder
    folder.mkdir(parents=True, exist_ok=True)
    progress.start(f"download:{name}", len(src.files), f"download {name}")
    for url, filename, md5 in src.files:
        path = folder / filename
        if not check_integrity(str(path), md5):
            try:
                download_url(url, str(folder), filename, md5)
            except (OSError, ValueError) as err:  # URLError is an OSError
                path.unlink(missing_ok=True)
                raise DataError(f"{name}: cannot download {url} ({one_line(err)}); put "
                                f"{filename} in {folder} by hand") from err
            except RuntimeError as err:  # torchvision: the file does not match its md5
                path.unlink(missing_ok=True)
                raise DataError(f"{name}: {url} did not match its md5 {md5} (a changed or "
                                "truncated file); refused and deleted it") from err
            if not check_integrity(str(path), md5):
                path.unlink(missing_ok=True)
                raise DataError(f"{name}: {filename} from {url} does not match its md5 {md5}; "
                                "refused and deleted it")
        if src.unpack:
            safe_unpack(path, folder, src.unpack)
        progress.advance(f"download:{name}")
    progress.finish(f"download:{name}")
    return folder


def safe_unpack(archive: Path, dest: Path, top: str) -> None:
    """Unpack the regular files of a tar archive that lie under ``top/`` into ``dest``."""
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if member.isdir() and parts == (top,):
                    continue
                if member.name.startswith("/") or ".." in parts or not parts or \
                        parts[0] != top or not (member.isfile() or member.isdir()):
                    raise DataError(f"{archive}: member {member.name!r} is not a file under "
                                    f"{top}/; refusing to unpack it")
                target = dest.joinpath(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                fh = tar.extractfile(member)
                if fh is None:  # a link or device entry: nothing to write
                    continue
                with fh:
                    target.write_bytes(fh.read())
    except tarfile.TarError as err:
        raise DataError(f"{archive}: not a readable tar archive ({err})") from err
