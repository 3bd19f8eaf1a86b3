"""Fault injection on `hashbench data prepare`: annotation fields that would forge list lines,
point outside the distribution or name no category. Each ends in one line naming the annotation
file and the entry, exit 2, and no list file written (or an existing one changed)."""

import json
from pathlib import Path

import numpy as np
import pytest
from inprocess import hb  # tests/inprocess.py
from PIL import Image


def _jpg(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value % 256, dtype=np.uint8)).save(path)


def coco(root: Path, edit=None) -> Path:
    """40 annotated images per part, 80 categories; ``edit(part, data)`` breaks one thing."""
    src = root / "coco"
    cats = [{"id": k + 1, "name": f"cat{k}"} for k in range(80)]
    image_id = 0
    for part in ("train2014", "val2014"):
        images, anns = [], []
        for _ in range(40):
            image_id += 1
            name = f"COCO_{part}_{image_id:012d}.jpg"
            _jpg(src / part / name, image_id)
            images.append({"id": image_id, "file_name": name})
            anns.append({"image_id": image_id, "category_id": 1 + image_id % 80})
        data = {"images": images, "categories": cats, "annotations": anns}
        if edit:
            edit(part, data)
        (src / "annotations").mkdir(exist_ok=True)
        (src / "annotations" / f"instances_{part}.json").write_text(json.dumps(data))
    return src


def _file_name(value):
    def edit(part, data):
        if part == "val2014":
            data["images"][3]["file_name"] = value
    return edit


def _category(part, data):
    if part == "train2014":
        data["annotations"][5]["category_id"] = 999


COCO_CASES = {
    "newline forging a list line": (_file_name("a.jpg 1\nINJECTED.jpg"), "images[3].file_name"),
    "parent-folder escape": (_file_name("../../../../../../etc/passwd"), "'..' component"),
    "absolute path": (_file_name("/etc/passwd"), "images[3].file_name"),
    "space in the name": (_file_name("my photo.jpg"), "holds whitespace"),
    "tab in the name": (_file_name("a\tb.jpg"), "holds whitespace"),
    "backslash in the name": (_file_name("..\\..\\x.jpg"), "backslash"),
    "escape character": (_file_name("\x1b[31mred.jpg"), "control character"),
    "right-to-left override": (_file_name("gpj.\u202eexe"), "control character"),
    "empty name": (_file_name(""), "images[3].file_name"),
    "not a string": (_file_name(17), "images[3].file_name"),
    "category out of range": (_category, "annotations[5].category_id 999"),
}


def prepare(src: Path, data_root: Path, *extra):
    return hb("data", "prepare", "ms_coco", "--from", src, "--data-root", data_root, *extra)


def one_error(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith(("error:", "internal"))]
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("case", sorted(COCO_CASES))
def test_a_bad_annotation_field_is_refused_and_nothing_is_written(case, tmp_path):
    edit, message = COCO_CASES[case]
    src = coco(tmp_path, edit)
    line = one_error(prepare(src, tmp_path / "data"))
    assert message in line and "instances_" in line, line  # names the file and the entry
    assert not (tmp_path / "data" / "ms_coco").exists() or \
        not list((tmp_path / "data" / "ms_coco").iterdir())


def test_a_failed_rebuild_leaves_the_existing_lists_as_they_were(tmp_path):
    good = coco(tmp_path / "good")
    assert prepare(good, tmp_path / "data").returncode == 0
    folder = tmp_path / "data" / "ms_coco"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    bad = coco(tmp_path / "bad", _file_name("x.jpg\nINJECTED.jpg"))
    one_error(prepare(bad, tmp_path / "data", "--force"))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_deeply_nested_annotation_file_is_one_line_naming_it(tmp_path):
    src = coco(tmp_path)
    (src / "annotations" / "instances_train2014.json").write_text("[" * 100000 + "]" * 100000)
    line = one_error(prepare(src, tmp_path / "data"))
    assert "instances_train2014.json" in line


def test_a_from_folder_whose_path_has_a_space_is_refused(tmp_path):
    src = coco(tmp_path / "my data")
    line = one_error(prepare(src, tmp_path / "data"))
    assert "holds whitespace" in line


def imagenet(root: Path) -> Path:
    src = root / "ILSVRC2012"
    for c in range(100):
        wnid = f"n{c:08d}"
        for j in range(2):
            _jpg(src / "train" / wnid / f"{wnid}_{j}.JPEG", c + j)
        _jpg(src / "val" / wnid / f"ILSVRC2012_val_{c:08d}.JPEG", c)
    return src


def test_an_imagenet_class_file_naming_a_path_is_refused(tmp_path):
    src = imagenet(tmp_path)
    classes = tmp_path / "classes.txt"
    wnids = [f"n{c:08d}" for c in range(99)] + ["../../../etc"]
    classes.write_text("\n".join(wnids) + "\n")
    res = hb("data", "prepare", "imagenet100", "--from", src, "--data-root", tmp_path / "data",
             "--classes", classes)
    line = one_error(res)
    assert "class 100" in line and "is not a wnid" in line


def test_an_imagenet_file_name_with_a_newline_is_refused(tmp_path):
    src = imagenet(tmp_path)
    _jpg(src / "train" / "n00000007" / "evil\nINJECTED.JPEG", 1)
    res = hb("data", "prepare", "imagenet100", "--from", src, "--data-root", tmp_path / "data")
    line = one_error(res)
    assert "n00000007" in line and "holds whitespace" in line
    assert not (tmp_path / "data" / "imagenet100").exists()


def test_a_nus_wide_image_list_line_with_a_space_is_refused(tmp_path):
    src = tmp_path / "NUS-WIDE"
    lines = [f"C:\\ImageData\\Flickr\\c{k % 21:02d}\\{k:04d}.jpg" for k in range(40)]
    lines[9] = "C:\\ImageData\\Flickr\\c09\\has space.jpg"
    (src / "ImageList").mkdir(parents=True)
    (src / "ImageList" / "Imagelist.txt").write_text("\n".join(lines) + "\n")
    (src / "Groundtruth" / "AllLabels").mkdir(parents=True)
    for k in range(21):
        (src / "Groundtruth" / "AllLabels" / f"Labels_c{k:02d}.txt").write_text(
            "\n".join("1" if i % 21 == k else "0" for i in range(40)) + "\n")
    res = hb("data", "prepare", "nus_wide", "--from", src, "--data-root", tmp_path / "data")
    line = one_error(res)
    assert "Imagelist.txt: line 10" in line and "holds whitespace" in line
