"""The site as a reader gets it: `hashbench report` on a real run, the folder then copied
elsewhere on its own. Every link and image resolves inside the copy; a partial evaluation is
listed apart, unranked, saying what it lacks; a phone keeps rank, defense and worst case on
screen; the figures come back unchanged from their cache."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_leaderboard_browser import CHROMIUM, chromium  # tests/cli/


def hb(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hashbench.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def site(smoke_results, tmp_path_factory):
    """The smoke run's board, plus a copy of its vanilla row measured over HAG alone (a
    partial evaluation, in a second results folder), rendered, then moved elsewhere."""
    root = tmp_path_factory.mktemp("site")
    mine = root / "mine/smoke-v1/mnist/dpsh-small_cnn-16b/partial"
    src = smoke_results / "results/smoke-v1/mnist/dpsh-small_cnn-16b/vanilla"
    mine.mkdir(parents=True)
    hag = json.loads((src / "hag.json").read_text())
    for name in ("clean", "hag", "worst_case"):
        rec = json.loads((src / f"{name}.json").read_text())
        rec["cell"]["defense"] = rec["model"]["defense"]["name"] = "partial"
        evidence = name
        if name == "worst_case":  # the worst case over HAG alone: HAG's own per-query APs,
            # an upper bound above the full worst case (its evidence agrees: a real record)
            rec["metrics"]["worst_case_of"] = rec["cell"]["worst_case_of"] = ["hag"]
            for key in ("map", "map_ci95"):
                rec["metrics"][key] = hag["metrics"][key]
            rec["sidecar"] = {**hag["sidecar"], "path": "worst_case.queries.npz"}
            evidence = "hag"
        (mine / f"{name}.json").write_text(json.dumps(rec))
        shutil.copy(src / f"{evidence}.queries.npz", mine / f"{name}.queries.npz")
    built = root / "built"
    first = hb("report", "--results", smoke_results / "results", "--results", root / "mine",
               "--out", built)
    assert first.returncode == 0, first.stderr
    again = hb("report", "--results", smoke_results / "results", "--results", root / "mine",
               "--out", built)
    assert again.returncode == 0, again.stderr
    published = root / "published-alone"
    shutil.copytree(built, published)
    shutil.rmtree(built)
    return published, first.stdout, again.stdout


def test_a_partial_evaluation_is_provisional_and_never_ranked(site):
    page, _, _ = site
    csv = next(page.glob("smoke-v1_*.csv")).read_text().splitlines()
    rows = {line.split(",")[2]: line for line in csv[1:]}
    assert rows["partial"].startswith(",")  # no rank
    assert "hag only" in rows["partial"] and "mine" in rows["partial"]
    assert rows["vanilla"].startswith("1,")
    html = (page / "index.html").read_text()
    provisional = html.split("Provisional entries (unranked)")[1].split("</table>")[0]
    assert "partial" in provisional and "hag only" in provisional


def test_every_link_resolves_when_the_folder_is_published_alone(site):
    page, _, _ = site
    html = (page / "index.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', html))
    targets = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert any(t.startswith("records/") for t in targets)
    assert any(t.startswith("plots/") and t.endswith(".png") for t in targets)
    for target in targets:
        if target.startswith(("http://", "https://")):
            continue
        if target.startswith("#"):
            assert target[1:] in ids, target
        else:
            assert not target.startswith(("/", "..")), target
            assert (page / unquote(target)).is_file(), target
    # every figure under plots/ is linked from the page (no orphans)
    linked = {unquote(t) for t in targets}
    for fig in (page / "plots").rglob("*.png"):
        assert fig.relative_to(page).as_posix() in linked, fig


def test_figures_are_not_drawn_again_from_the_same_records(site):
    _, first, again = site
    drawn = int(re.search(r"(\d+) drawn", first).group(1))
    assert drawn > 0
    assert re.search(r"\b0 drawn, (\d+) unchanged", again), again


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_a_phone_keeps_rank_defense_and_worst_case_on_screen(site, tmp_path):
    page, _, _ = site
    probe = page / "probe-phone.html"
    probe.write_text((page / "index.html").read_text().replace(
        "</body>", "<script>var t = document.querySelector('table.board'), w = innerWidth,"
        " seen = [];"
        "t.querySelectorAll('th').forEach(function (th) { var r = th.getBoundingClientRect();"
        " if (r.width > 0 && r.right <= w) { seen.push(th.textContent); } });"
        "document.body.setAttribute('data-seen', seen.join('|'));</script></body>"))
    done = chromium("--dump-dom", "--window-size=390,900", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    seen = re.search(r'data-seen="([^"]*)"', done.stdout).group(1).split("|")
    assert {"rank", "defense", "worst-case mAP"} <= set(seen), seen
    shot = tmp_path / "phone.png"
    assert chromium(f"--screenshot={shot}", "--window-size=390,900",
                    (page / "index.html").as_uri()).returncode == 0


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_shipped_site_shows_every_column_at_1280_px(tmp_path):
    """The committed board (image-text boards have some twenty columns): no summary table
    scrolls sideways in a 1280 px window."""
    from test_leaderboard_browser import scrolls_sideways

    shipped = Path(__file__).resolve().parents[2] / "leaderboard" / "index.html"
    page = tmp_path / "index.html"
    page.write_text(shipped.read_text())
    assert not scrolls_sideways(page, 1280)
