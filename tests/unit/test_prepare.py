"""`hashbench data prepare NAME --from DIR` on fixture folders laid out as each distribution
unpacks: lists the loaders accept, the literature's split rules, the same bytes twice, and
one-line errors for what is missing."""

import hashlib
import json

import numpy as np
import pytest
import torch
from inprocess import hb  # tests/inprocess.py
from PIL import Image

from hashbench.data import load_dataset
from hashbench.data.literature import LIST_DATASETS


def _jpg(path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value % 256, dtype=np.uint8)).save(path)


def nus_wide(root):
    """300 images, 22 concept files (the least frequent must be dropped), 1k-style tags."""
    rng = np.random.default_rng(0)
    src = root / "NUS-WIDE"
    names = [f"c{k:02d}" for k in range(22)]
    labels = rng.random((300, 22)) < np.linspace(0.5, 0.02, 22)
    labels[:5] = False  # five images with no concept: dropped
    lines = []
    for i in range(300):
        rel = f"{names[i % 22]}/{i:04d}_{1000 + i}.jpg"
        lines.append("C:\\ImageData\\Flickr\\" + rel.replace("/", "\\"))
        if i != 7:  # one image file missing: dropped
            _jpg(src / "Flickr" / rel, i)
    (src / "ImageList").mkdir(parents=True)
    (src / "ImageList" / "Imagelist.txt").write_text("\n".join(lines) + "\n")
    (src / "Groundtruth" / "AllLabels").mkdir(parents=True)
    for k, n in enumerate(names):
        (src / "Groundtruth" / "AllLabels" / f"Labels_{n}.txt").write_text(
            "\n".join(str(int(v)) for v in labels[:, k]) + "\n")
    (src / "NUS_WID_Tags").mkdir()
    tags = (rng.random((300, 6)) < 0.3).astype(int)
    (src / "NUS_WID_Tags" / "AllTags1k.txt").write_text(
        "\n".join(" ".join(map(str, r)) for r in tags) + "\n")
    return src, labels


def ms_coco(root):
    src = root / "coco"
    rng = np.random.default_rng(1)
    cats = [{"id": 2 * k + 1, "name": f"cat{k}"} for k in range(80)]
    image_id = 0
    for part in ("train2014", "val2014"):
        images, anns = [], []
        for _ in range(60):
            image_id += 1
            name = f"COCO_{part}_{image_id:012d}.jpg"
            _jpg(src / part / name, image_id)
            images.append({"id": image_id, "file_name": name})
            if image_id % 15 != 0:  # every 15th image has no annotation: dropped
                for c in rng.choice(80, 2, replace=False):
                    anns.append({"image_id": image_id, "category_id": cats[c]["id"]})
        (src / "annotations").mkdir(exist_ok=True)
        (src / "annotations" / f"instances_{part}.json").write_text(
            json.dumps({"images": images, "categories": cats, "annotations": anns}))
    return src


def flickr25k(root):
    src = root / "mirflickr25k"
    rng = np.random.default_rng(2)
    for n in range(1, 121):
        _jpg(src / "mirflickr" / f"im{n}.jpg", n)
        tags = [f"t{k}" for k in rng.choice(30, 4, replace=False)] + [f"rare{n}"]
        (src / "mirflickr" / "meta" / "tags").mkdir(parents=True, exist_ok=True)
        (src / "mirflickr" / "meta" / "tags" / f"tags{n}.txt").write_text("\n".join(tags))
    ann = src / "mirflickr25k_annotations_v080"
    ann.mkdir()
    (ann / "README.txt").write_text("not a concept")
    for k in range(38):
        members = sorted(rng.choice(np.arange(1, 121), 12, replace=False))
        (ann / f"concept{k:02d}{'_r1' if k >= 24 else ''}.txt").write_text(
            "\n".join(map(str, members)) + "\n")
    return src


def imagenet(root):
    src = root / "ILSVRC2012"
    for c in range(100):
        wnid = f"n{c:08d}"
        for j in range(4):
            _jpg(src / "train" / wnid / f"{wnid}_{j}.JPEG", c + j)
        for j in range(2):
            _jpg(src / "val" / wnid / f"ILSVRC2012_val_{c * 2 + j:08d}.JPEG", c)
    return src


class Ran:
    def __init__(self, result):
        self.exit_code, self.output = result.returncode, result.stdout + result.stderr


def prepare(name, src, data_root, *extra):
    return Ran(hb("data", "prepare", name, "--from", src, "--data-root", data_root, *extra))


def digest(folder) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.iterdir()))).hexdigest()


def check_lists(name, data_root):
    ds = load_dataset(name, data_root)
    rows = {s: (data_root / name / f).read_text().splitlines()
            for s, f in (("train", "train.txt"), ("query", "test.txt"),
                         ("database", "database.txt"))}
    paths = {s: [r.split()[0] for r in v] for s, v in rows.items()}
    assert set(paths["train"]) <= set(paths["database"])  # train inside the database
    assert not set(paths["query"]) & set(paths["database"])  # queries never in it
    assert ds.query.labels.shape[1] == LIST_DATASETS[name].n_classes
    img = ds.query[0][0] if isinstance(ds.query[0], tuple) else ds.query.images(torch.arange(1))
    assert img.shape[-2:] == (224, 224)  # relative paths resolve to the source's images
    return ds, paths


def test_nus_wide_keeps_the_21_most_frequent_concepts_with_per_concept_quotas(tmp_path):
    src, labels = nus_wide(tmp_path)
    res = prepare("nus_wide", src, tmp_path / "data")
    assert res.exit_code == 0, res.output
    assert "c21" not in res.output.split("concepts kept:")[1].split("\n")[0]  # least frequent
    ds, paths = check_lists("nus_wide", tmp_path / "data")
    assert not any("0007_" in p for p in paths["database"] + paths["query"])  # missing file
    assert ds.has_texts and ds.text_dim == 6
    n_kept = int((labels[:, :21].any(1)).sum()) - (1 if labels[7, :21].any() else 0)
    assert len(ds.query) + len(ds.database) == n_kept
    first = digest(tmp_path / "data" / "nus_wide")
    again = prepare("nus_wide", src, tmp_path / "data", "--force")
    assert again.exit_code == 0 and digest(tmp_path / "data" / "nus_wide") == first


def test_ms_coco_drops_unannotated_images_and_orders_categories_by_id(tmp_path):
    src = ms_coco(tmp_path)
    res = prepare("ms_coco", src, tmp_path / "data")
    assert res.exit_code == 0, res.output
    ds, paths = check_lists("ms_coco", tmp_path / "data")
    assert len(ds.query) + len(ds.database) == 120 - 8  # ids 15, 30, ... 120 unannotated
    assert len(ds.query) == 11 and len(ds.train) == len(ds.database) // 2
    assert (ds.database.labels.sum(1) == 2).all()
    assert not ds.has_texts


def test_flickr25k_keeps_all_images_38_labels_and_tags_of_20_images(tmp_path):
    src = flickr25k(tmp_path)
    res = prepare("flickr25k", src, tmp_path / "data")
    assert res.exit_code == 0, res.output
    ds, paths = check_lists("flickr25k", tmp_path / "data")
    assert len(ds.query) + len(ds.database) == 120 and len(ds.query) == 12
    assert len(set(paths["train"])) == len(paths["train"])  # no duplicates (P12)
    # t0..t29 each on ~16 of 120 images: only those on 20 or more are kept; rare<n> never
    assert ds.has_texts and 0 < ds.text_dim < 30
    first = digest(tmp_path / "data" / "flickr25k")
    assert prepare("flickr25k", src, tmp_path / "data").exit_code != 0  # lists exist: refused
    assert digest(tmp_path / "data" / "flickr25k") == first


def test_imagenet100_takes_its_classes_from_train_or_a_class_file(tmp_path):
    src = imagenet(tmp_path)
    res = prepare("imagenet100", src, tmp_path / "data")
    assert res.exit_code == 0, res.output
    ds, _ = check_lists("imagenet100", tmp_path / "data")
    assert len(ds.query) == 200 and len(ds.database) == 400 and len(ds.train) == 200
    (src / "train" / "n99999999").mkdir()  # a 101st folder: which 100 is ambiguous
    res = prepare("imagenet100", src, tmp_path / "data2")
    assert res.exit_code == 2 and "--classes FILE" in res.output
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(f"n{c:08d}" for c in range(100)))
    res = prepare("imagenet100", src, tmp_path / "data2", "--classes", str(classes))
    assert res.exit_code == 0, res.output
    assert digest(tmp_path / "data2" / "imagenet100") == digest(tmp_path / "data" / "imagenet100")


@pytest.mark.parametrize("name,missing", [("nus_wide", "Imagelist.txt"),
                                          ("ms_coco", "instances_train2014.json"),
                                          ("flickr25k", "mirflickr"),
                                          ("imagenet100", "train")])
def test_a_folder_without_the_distribution_is_a_one_line_error(tmp_path, name, missing):
    (tmp_path / "empty").mkdir()
    res = prepare(name, tmp_path / "empty", tmp_path / "data")
    assert res.exit_code == 2
    assert missing in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "data" / name / "train.txt").exists()


def test_prepare_refuses_an_unknown_name_and_a_missing_data_root(tmp_path, monkeypatch):
    res = prepare("nuswide", tmp_path, tmp_path)
    assert res.exit_code == 2 and "nus_wide" in res.output
    monkeypatch.delenv("HASHBENCH_DATA", raising=False)
    res = Ran(hb("data", "prepare", "nus_wide", "--from", tmp_path))
    assert res.exit_code == 2 and "data root" in res.output
