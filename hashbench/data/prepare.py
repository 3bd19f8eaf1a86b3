"""``hashbench data prepare NAME --from DIR``: the list files of the literature's licensed datasets,
built from the folders their distributions unpack to (nothing is downloaded or copied).

Each builder reads the distribution's own files, applies the split the hashing literature uses
(docs/methods.md 6.1), and writes ``train.txt``, ``test.txt`` (queries) and
``database.txt`` into ``DATA_ROOT/<name>/``, with image paths relative to that folder, plus tag
matrices (``*_text.npy``) where the distribution has tags. The draws are seeded
(``numpy_rng(seed, "prepare", name, ...)``) and every input is read in a sorted order, so the
same distribution gives the same bytes, and so the same protocol hash, on every machine. On a
source smaller than the distribution (a test's fixture folder) the split sizes shrink in
proportion (the caps below); on the full distributions they are the literature's.

* ``nus_wide``: ``ImageList/Imagelist.txt``, ``Groundtruth/AllLabels/Labels_<concept>.txt``
  (81 concepts), the images under ``Flickr/``; optional ``NUS_WID_Tags/AllTags1k.txt``. The 21
  most frequent concepts; images with none are dropped; 100 queries and 500 training images
  per concept (an image counts for its first concept with quota left); the database is all
  but the queries (train inside it).
* ``ms_coco``: ``annotations/instances_{train,val}2014.json``, ``train2014/``, ``val2014/``.
  80 categories in id order; images without one are dropped (122,218 on the 2014 release);
  5,000 queries, the rest the database, 10,000 training images drawn from it.
* ``flickr25k``: ``mirflickr/im<N>.jpg``, ``mirflickr25k_annotations_v080/*.txt`` (the 24
  concepts and their 14 "relevant" variants: 38 labels in file-name order); optional
  ``mirflickr/meta/tags/tags<N>.txt``. All 25,000 images (ProS-GAN/CgAT's split): 1,700
  queries, 23,300 database, 5,000 training images drawn from the database without replacement
  (ProS-GAN drew with replacement: docs/methods.md P12). Tags kept when 20 or more images carry
  them (DCMH's rule: 1,386 on the full release).
* ``imagenet100``: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (the validation images in
  class folders, as ``valprep.sh`` leaves them); the 100 classes from ``--classes FILE`` (one
  wnid a line, e.g. HashNet's), or the class folders of ``train/`` when there are exactly 100.
  Queries: every validation image of the classes (5,000); database: their training images;
  train: 100 per class from the database (DHTA's list).
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hashbench.data.literature import LIST_DATASETS, SPLIT_FILES
from hashbench.errors import ConfigError, DataError, DataMissing, one_line
from hashbench.kit.seeding import numpy_rng
from hashbench.records.io import atomic_write_bytes
from hashbench.text import UNSAFE

PREPARED = ("nus_wide", "ms_coco", "flickr25k", "imagenet100")
NUS_CONCEPTS = 21
FLICKR_MIN_TAG_IMAGES = 20


@dataclass
class Prepared:
    """What ``prepare`` wrote: the folder, the split sizes, notes for the user."""

    folder: Path
    sizes: dict[str, int] = field(default_factory=dict)
    text_dim: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Splits:
    """Items (relative image paths, label matrix, optional tag matrix) and the split indices."""

    paths: list[str]
    labels: np.ndarray
    query: np.ndarray
    database: np.ndarray
    train: np.ndarray
    texts: np.ndarray | None = None


def _need(path: Path, what: str, name: str) -> Path:
    if not path.exists():
        raise DataMissing(f"{name}: --from needs {path} ({what}); "
                          f"see `hashbench data prepare --help` for the layout")
    return path


def _read_lines(path: Path, name: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{name}: cannot read {path} ({one_line(err)})") from err


# an image path as a list line holds it: relative, '/'-separated, without whitespace (the list
# format separates fields with spaces; a newline would forge a line), control or bidi characters
_ITEM_FORBIDDEN = re.compile(r"[\s\\]")


def _item_path(value, name: str, where: str) -> str:
    """``value`` checked as an image path copied from a distribution's file into a list file;
    ``where`` names the file and the entry it came from."""
    bad = None
    if not isinstance(value, str) or not value:
        bad = "is not a file name"
    elif value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        bad = "is absolute"
    elif _ITEM_FORBIDDEN.search(value) or UNSAFE.search(value):
        bad = "holds whitespace, a backslash or a control character"
    elif any(part in ("", ".", "..") for part in value.split("/")):
        bad = "holds an empty, '.' or '..' component"
    if bad:
        raise DataError(f"{name}: {where}: the image path {value!r:.80} {bad}; a list line needs "
                        "a plain relative path: fix or remove that entry")
    return value


def _rng(seed: int, name: str, purpose: str) -> np.random.Generator:
    return numpy_rng(seed, "prepare", name, purpose)


def _quota_split(labels: np.ndarray, order: np.ndarray, n_query: np.ndarray,
                 n_train: np.ndarray):
    """NUS-WIDE's per-concept quotas: walking ``order``, an image goes to train while its first
    concept with quota left has train quota, else to the queries, else to the database only."""
    train_left, query_left = n_train.copy(), n_query.copy()
    query, train = [], []
    for i in order:
        for c in np.flatnonzero(labels[i]):
            if train_left[c]:
                train_left[c] -= 1
                train.append(i)
                break
            if query_left[c]:
                query_left[c] -= 1
                query.append(i)
                break
    query_idx = np.sort(np.asarray(query, dtype=np.int64))
    database = np.setdiff1d(np.arange(len(labels)), query_idx)
    return query_idx, database, np.sort(np.asarray(train, dtype=np.int64))


def _nus_wide(src: Path, seed: int, classes: Path | None) -> tuple[Splits, list[str]]:
    name = "nus_wide"
    listing = _read_lines(_need(src / "ImageList" / "Imagelist.txt", "the image list", name),
                          name)
    label_dir = _need(src / "Groundtruth" / "AllLabels", "Labels_<concept>.txt per concept",
                      name)
    files = sorted(label_dir.glob("Labels_*.txt"))
    if len(files) < NUS_CONCEPTS:
        raise DataError(f"{name}: {label_dir} holds {len(files)} Labels_<concept>.txt files; the "
                        f"distribution has 81 (the {NUS_CONCEPTS} most frequent are kept)")
    columns = []
    for f in files:
        rows = [line.strip() for line in _read_lines(f, name) if line.strip()]
        if len(rows) != len(listing) or any(r not in ("0", "1") for r in rows):
            raise DataError(f"{name}: {f} must hold one 0/1 per image of Imagelist.txt "
                            f"({len(listing)} lines); it has {len(rows)}")
        columns.append(np.asarray(rows, dtype=np.uint8) == 1)
    all_labels = np.stack(columns, axis=1)
    # the 21 most frequent concepts, ties by name, kept in name order
    counts = all_labels.sum(0)
    top = np.sort(sorted(range(len(files)), key=lambda c: (-counts[c], files[c].name))
                  [:NUS_CONCEPTS])
    labels = all_labels[:, top]
    list_file = src / "ImageList" / "Imagelist.txt"
    paths = [_item_path("Flickr/" + "/".join(re.split(r"[\\/]", line.strip())[-2:]), name,
                        f"{list_file}: line {n}") for n, line in enumerate(listing, 1)]
    tags_file = src / "NUS_WID_Tags" / "AllTags1k.txt"
    texts = None
    if tags_file.is_file():
        texts = _tag_matrix(tags_file, len(listing), name)
    keep = np.flatnonzero(labels.any(1) & np.array([(src / p).is_file() for p in paths]))
    notes = [f"concepts kept: {', '.join(files[c].stem[len('Labels_'):] for c in top)}",
             f"{len(listing) - len(keep)} images dropped (none of the {NUS_CONCEPTS} concepts, "
             "or the image file missing)"]
    if texts is None:
        notes.append(f"no {tags_file} (AllTags1k.txt): image lists only, no tag matrices")
    labels, paths = labels[keep], [paths[i] for i in keep]
    texts = texts[keep] if texts is not None else None
    order = _rng(seed, name, "order").permutation(len(paths))
    counts = labels.sum(0)
    query, database, train = _quota_split(labels, order, np.minimum(100, counts // 20),
                                          np.minimum(500, counts // 4))
    return Splits(paths, labels, query, database, train, texts), notes


def _tag_matrix(path: Path, n: int, name: str) -> np.ndarray:
    rows = [line.split() for line in _read_lines(path, name) if line.strip()]
    if len(rows) != n or len({len(r) for r in rows}) != 1:
        raise DataError(f"{name}: {path} must hold one row of 0/1 tags per image ({n} rows of "
                        f"equal width)")
    arr = np.asarray(rows, dtype=np.int64)
    if not np.isin(arr, (0, 1)).all():
        raise DataError(f"{name}: {path} holds values other than 0 and 1")
    return arr.astype(np.uint8)


def _ms_coco(src: Path, seed: int, classes: Path | None) -> tuple[Splits, list[str]]:
    name = "ms_coco"
    images: dict[int, str] = {}
    cats: dict[int, str] = {}
    hits: dict[int, set[int]] = {}
    for part in ("train2014", "val2014"):
        ann = _need(src / "annotations" / f"instances_{part}.json",
                    "the COCO 2014 instance annotations", name)
        try:
            data = json.loads(ann.read_text(encoding="utf-8"))
            for k, img in enumerate(data["images"]):
                where = f"{ann}: images[{k}].file_name"
                images[int(img["id"])] = _item_path(
                    f"{part}/{_item_path(img['file_name'], name, where)}", name, where)
            for c in data["categories"]:
                cats[int(c["id"])] = c["name"]
            for k, a in enumerate(data["annotations"]):
                if int(a["category_id"]) not in cats:
                    raise DataError(f"{name}: {ann}: annotations[{k}].category_id "
                                    f"{a['category_id']!r} is none of the file's categories; "
                                    "fix or remove that annotation")
                hits.setdefault(int(a["image_id"]), set()).add(int(a["category_id"]))
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
            raise DataError(f"{name}: {ann} is not a COCO instances file with images, "
                            f"categories and annotations ({one_line(err)})") from err
    ids = sorted(cats)
    if len(ids) != LIST_DATASETS[name].n_classes:
        raise DataError(f"{name}: the annotations name {len(ids)} categories, expected 80")
    column = {c: j for j, c in enumerate(ids)}
    kept = sorted(i for i in images if hits.get(i))
    paths = [images[i] for i in kept]
    labels = np.zeros((len(kept), len(ids)), dtype=bool)
    for row, i in enumerate(kept):
        labels[row, [column[c] for c in hits[i] if c in column]] = True
    order = _rng(seed, name, "order").permutation(len(kept))
    n_query = min(5000, len(kept) // 10)
    query, database = np.sort(order[:n_query]), np.sort(order[n_query:])
    train = np.sort(_rng(seed, name, "train").choice(database, min(10000, len(database) // 2),
                                                     replace=False))
    notes = [f"{len(images) - len(kept)} images without a category dropped",
             "no tag matrices (COCO has captions, not tags)"]
    return Splits(paths, labels, query, database, train), notes


def _flickr25k(src: Path, seed: int, classes: Path | None) -> tuple[Splits, list[str]]:
    name = "flickr25k"
    image_dir = _need(src / "mirflickr", "the images im1.jpg ... im25000.jpg", name)
    ann_dir = _need(src / "mirflickr25k_annotations_v080", "the concept annotation files",
                    name)
    files = sorted(f for f in ann_dir.glob("*.txt") if f.name != "README.txt")
    n_classes = LIST_DATASETS[name].n_classes
    if len(files) != n_classes:
        raise DataError(f"{name}: {ann_dir} holds {len(files)} annotation files; the "
                        f"distribution has {n_classes} (24 concepts and 14 _r1 variants)")
    numbers = sorted(int(m.group(1)) for f in image_dir.glob("im*.jpg")
                     if (m := re.fullmatch(r"im(\d+)\.jpg", f.name)))
    if not numbers:
        raise DataMissing(f"{name}: no im<N>.jpg under {image_dir}")
    row = {n: i for i, n in enumerate(numbers)}
    labels = np.zeros((len(numbers), n_classes), dtype=bool)
    for j, f in enumerate(files):
        for line in _read_lines(f, name):
            if line.strip():
                try:
                    labels[row[int(line)], j] = True
                except (ValueError, KeyError) as err:
                    raise DataError(f"{name}: {f}: {line.strip()!r} is not the number of an "
                                    f"image under {image_dir}") from err
    paths = [f"mirflickr/im{n}.jpg" for n in numbers]
    notes = [f"{int((~labels.any(1)).sum())} images have no label (kept, as the ProS-GAN split "
             "keeps them: their AP is 0)"]
    texts = None
    tag_dir = image_dir / "meta" / "tags"
    if tag_dir.is_dir():
        tags = [set(_read_lines(tag_dir / f"tags{n}.txt", name))
                if (tag_dir / f"tags{n}.txt").is_file() else set() for n in numbers]
        tags = [{t.strip() for t in ts if t.strip()} for ts in tags]
        counts: dict[str, int] = {}
        for ts in tags:
            for t in ts:
                counts[t] = counts.get(t, 0) + 1
        vocab = sorted(t for t, c in counts.items() if c >= FLICKR_MIN_TAG_IMAGES)
        index = {t: k for k, t in enumerate(vocab)}
        texts = np.zeros((len(numbers), len(vocab)), dtype=np.uint8)
        for i, ts in enumerate(tags):
            texts[i, [index[t] for t in ts if t in index]] = 1
        notes.append(f"{len(vocab)} tags carried by {FLICKR_MIN_TAG_IMAGES} or more images")
    else:
        notes.append(f"no {tag_dir}: image lists only, no tag matrices")
    n_query = min(1700, len(numbers) // 10)
    order = _rng(seed, name, "order").permutation(len(numbers))
    query, database = np.sort(order[:n_query]), np.sort(order[n_query:])
    train = np.sort(_rng(seed, name, "train").choice(database, min(5000, len(database) // 2),
                                                     replace=False))
    return Splits(paths, labels, query, database, train, texts), notes


def _imagenet100(src: Path, seed: int, classes: Path | None) -> tuple[Splits, list[str]]:
    name = "imagenet100"
    train_dir = _need(src / "train", "ILSVRC2012 training images in <wnid>/ folders", name)
    val_dir = _need(src / "val", "ILSVRC2012 validation images in <wnid>/ folders "
                    "(valprep.sh's layout)", name)
    if classes is not None:
        wnids = [w.strip() for w in _read_lines(classes, name) if w.strip()]
    else:
        wnids = sorted(d.name for d in train_dir.iterdir() if d.is_dir())
        if len(wnids) != 100:
            raise ConfigError(f"{name}: {train_dir} has {len(wnids)} class folders; pass "
                              "--classes FILE with the 100 wnids (one a line, e.g. HashNet's)")
    if len(wnids) != 100 or len(set(wnids)) != 100:
        raise ConfigError(f"{name}: --classes must name 100 distinct wnids, got {len(wnids)}")
    for k, wnid in enumerate(wnids, 1):  # a class name becomes a folder to read: never a path
        if not re.fullmatch(r"[A-Za-z0-9_-]+", wnid):
            raise ConfigError(f"{name}: {classes or train_dir}: class {k} {wnid!r:.80} is not a "
                              "wnid (letters, digits, '_', '-'); fix that line")
    paths, classes_of, parts = [], [], []
    for part, folder in (("val", val_dir), ("train", train_dir)):
        for c, wnid in enumerate(wnids):
            found = sorted(p.name for p in (folder / wnid).glob("*")
                           if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
            if not found:
                raise DataMissing(f"{name}: no images under {folder / wnid}")
            paths += [_item_path(f"{part}/{wnid}/{f}", name, f"{folder / wnid}: file {f!r:.80}")
                      for f in found]
            classes_of += [c] * len(found)
            parts += [part] * len(found)
    y, split = np.asarray(classes_of), np.asarray(parts)
    labels = np.eye(100, dtype=bool)[y]
    query, database = np.flatnonzero(split == "val"), np.flatnonzero(split == "train")
    per_class = min(100, int(np.bincount(y[database], minlength=100).min()) // 2)
    rng = _rng(seed, name, "train")
    train = np.sort(np.concatenate([rng.choice(database[y[database] == c], per_class,
                                               replace=False) for c in range(100)]))
    return Splits(paths, labels, query, database, train), [f"{per_class} training images per "
                                                            "class"]


BUILDERS = {"nus_wide": _nus_wide, "ms_coco": _ms_coco, "flickr25k": _flickr25k,
            "imagenet100": _imagenet100}


def prepare(name: str, source: Path, data_root: Path, seed: int = 0,
            classes: Path | None = None, force: bool = False) -> Prepared:
    """Build ``DATA_ROOT/<name>/`` list files (and tag matrices) from the distribution under
    ``source``. Existing list files are kept unless ``force`` (they define the protocol)."""
    if name not in BUILDERS:
        from hashbench.errors import close_matches

        raise ConfigError(f"data prepare: unknown dataset {name!r}{close_matches(name, PREPARED)}"
                          f"; one of {', '.join(PREPARED)}")
    if not source.is_dir():
        raise DataMissing(f"{name}: --from {source} is not a folder")
    folder = data_root / name
    existing = [folder / f for f in SPLIT_FILES.values() if (folder / f).exists()]
    if existing and not force:
        raise ConfigError(f"{name}: {existing[0]} exists (its bytes are the protocol); pass "
                          "--force to rebuild the lists")
    splits, notes = BUILDERS[name](source, seed, classes)
    # image paths relative to the list folder, wherever --from is
    prefix = Path(os.path.relpath(source.resolve(), folder.resolve()))
    if _ITEM_FORBIDDEN.search(prefix.as_posix()) or UNSAFE.search(prefix.as_posix()):
        raise ConfigError(f"{name}: the path from {folder} to --from {source} holds whitespace "
                          "or a control character, which a list line cannot; use a folder (or "
                          "a symlink to it) whose path has none")
    out = Prepared(folder, notes=notes)
    files: dict[str, bytes] = {}  # every file built (and so checked) before any is written
    for split, fname in SPLIT_FILES.items():
        idx = getattr(splits, split)
        lines = [" ".join([(prefix / splits.paths[i]).as_posix(),
                           *("1" if v else "0" for v in splits.labels[i])]) for i in idx]
        files[fname] = ("\n".join(lines) + "\n").encode()
        out.sizes[split] = len(idx)
        if splits.texts is not None:
            files[f"{fname[:-4]}_text.npy"] = _npy_bytes(splits.texts[idx])
    folder.mkdir(parents=True, exist_ok=True)
    for fname, data in files.items():
        atomic_write_bytes(folder / fname, data)
    if splits.texts is not None:
        out.text_dim = int(splits.texts.shape[1])
    else:  # stale tag matrices of an earlier prepare would pair with the wrong lines
        for fname in SPLIT_FILES.values():
            (folder / f"{fname[:-4]}_text.npy").unlink(missing_ok=True)
    return out


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.uint8), allow_pickle=False)
    return buf.getvalue()
