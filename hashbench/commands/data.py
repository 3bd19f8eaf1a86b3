"""``hashbench data download`` and ``data prepare``: the datasets of the literature suites."""

from __future__ import annotations

from pathlib import Path

import click

from hashbench.commands.output import RichProgress, console, out, progress_bars
from hashbench.data import load_dataset
from hashbench.data.download import download
from hashbench.data.prepare import prepare
from hashbench.errors import ConfigError


@click.group()
def data():
    """Fetch the datasets whose licence allows it; build the others' lists from their
    distributions."""


@data.command("download")
@click.argument("names", nargs=-1, required=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="where the loaders look [default: $HASHBENCH_DATA]")
def data_download(names, data_root):
    """Download NAMES (cifar10, fashion_mnist) with torchvision's downloaders and checksums, then
    load each once to check it."""
    with progress_bars() as bar:
        progress = RichProgress(bar)
        for name in names:
            folder = download(name, data_root, progress)
            ds = load_dataset(name, data_root)
            out.print(f"{name}: in {folder}; {len(ds.train)} train, {len(ds.query)} query, "
                      f"{len(ds.database)} database items (protocol {ds.protocol})")


@data.command("prepare")
@click.argument("name", type=click.Choice(["nus_wide", "ms_coco", "flickr25k", "imagenet100"]))
@click.option("--from", "source", required=True, type=click.Path(path_type=Path),
              help="the folder the distribution unpacked to")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, envvar="HASHBENCH_DATA",
              help="where the loaders look [default: $HASHBENCH_DATA]")
@click.option("--classes", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="imagenet100: the 100 wnids, one a line (default: train/'s 100 folders)")
@click.option("--force", is_flag=True, help="rebuild list files that exist")
def data_prepare(name, source, data_root, classes, force):
    """Build NAME's list files (and tag matrices) from its distribution under --from: the
    literature's split, seeded, the same bytes on every machine. What each needs:

    \b
    nus_wide     ImageList/Imagelist.txt, Groundtruth/AllLabels/, Flickr/ [NUS_WID_Tags/AllTags1k.txt]
    ms_coco      annotations/instances_{train,val}2014.json, train2014/, val2014/
    flickr25k    mirflickr/im*.jpg, mirflickr25k_annotations_v080/ [mirflickr/meta/tags/]
    imagenet100  train/<wnid>/, val/<wnid>/ (--classes FILE: the 100 wnids)
    """
    if data_root is None:
        raise ConfigError("no data root: pass --data-root DIR or set HASHBENCH_DATA")
    with console.status(f"building the {name} lists"):
        done = prepare(name, source, data_root, classes=classes, force=force)
        ds = load_dataset(name, data_root)
    for note in done.notes:
        out.print(f"{name}: {note}", markup=False, highlight=False)
    text = f", tag vectors of {done.text_dim} tags" if done.text_dim else ""
    out.print(f"{name}: lists in {done.folder}; {len(ds.train)} train, {len(ds.query)} query, "
              f"{len(ds.database)} database items{text} (protocol {ds.protocol})",
              markup=False, highlight=False)
