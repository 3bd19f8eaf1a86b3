"""The HTML leaderboard in a real headless Chromium: it renders, and sorting works.

Skipped where no Chromium is installed; `.ci/run` installs Debian's `chromium` so CI runs it.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from record_factory import complete  # tests/record_factory.py

from hashbench.report.leaderboard import build_boards, write_leaderboards

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                 if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install "
                                "chromium); .ci/run installs it")


def record(defense, attack, clean, robust=None):
    metrics = {"eps": 0.3, "topk": None, "clean_map": clean, "random_map": 0.1}
    if robust is not None:
        metrics["map"] = robust
    return complete({
        "suite": {"name": "standard", "version": 1}, "dataset": {"protocol": "mnist-5k-v1"},
        "cell": {"attack": attack},
        "model": {"method": "dpsh", "backbone": "small_cnn", "bits": 32,
                  "defense": {"name": defense, "third_party": defense.startswith("<")}},
        "attack": None, "metrics": metrics, "status": "ok", "error": None})


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    rows = {"vanilla": (0.96, 0.05), "cgat": (0.93, 0.40), "saat": (0.95, 0.45),
            "<img src=x onerror=alert(1)>": (0.90, 0.30)}
    recs = []
    for name, (clean, worst) in rows.items():
        recs += [record(name, "clean", clean), record(name, "worst_case", clean, worst)]
    out = tmp_path_factory.mktemp("board")
    write_leaderboards(build_boards(recs), out)
    return out / "index.html"


def chromium(*args: str) -> subprocess.CompletedProcess:
    # a profile folder per test process: two pytest workers sharing one collide on its lock
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", f"--user-data-dir=/tmp/hashbench-chromium-{os.getpid()}",
                           *args], capture_output=True, text=True, timeout=120)


def defenses_in_dom(page: Path, fragment: str = "") -> list[str]:
    done = chromium("--dump-dom", page.as_uri() + fragment)
    assert done.returncode == 0, done.stderr[-2000:]
    table = re.search(r'<table class="board">(.*?)</table>', done.stdout, flags=re.S).group(1)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)[1:]  # skip the header
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)[2] for r in rows]
    return [re.sub(r"<[^>]+>", "", c) for c in cells]  # the defense cell links its details


def test_table_renders_and_screenshot_is_taken(page, tmp_path):
    shot = tmp_path / "board.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1200,600", page.as_uri())
    assert done.returncode == 0 and shot.stat().st_size > 5000, done.stderr[-2000:]
    order = defenses_in_dom(page)
    assert order[0] == "saat" and order[-1] == "vanilla"  # ranked by worst case
    # the hostile name is shown as text, never as an element
    assert "&lt;img src=x onerror=alert(1)&gt;" in order


def test_clicking_a_header_sorts_and_a_second_click_reverses(page):
    by_clean = defenses_in_dom(page, "#sort=clean mAP")
    assert by_clean[0].startswith("&lt;img") and by_clean[-1] == "vanilla"
    reversed_ = defenses_in_dom(page, "#sort=clean mAP,clean mAP")
    assert reversed_ == by_clean[::-1]


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $HASHBENCH_TEST_ARTIFACTS (kept for a reader), else tmp_path."""
    folder = Path(os.environ.get("HASHBENCH_TEST_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scrolls_sideways(page: Path, width: int) -> bool:
    """Whether the page, or a board's summary table in its box, is wider than a ``width`` px
    window (measured in the page itself)."""
    probe = page.with_name(f"probe-{width}.html")
    probe.write_text(page.read_text().replace(
        "</body>", "<script>var wide = document.documentElement.scrollWidth > window.innerWidth;"
        "document.querySelectorAll('div.scroll').forEach(function (d) {"
        " if (d.scrollWidth > d.clientWidth) { wide = true; } });"
        "document.body.setAttribute('data-wide', String(wide));</script></body>"))
    done = chromium("--dump-dom", f"--window-size={width},900", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return 'data-wide="true"' in done.stdout


def test_the_site_fits_1280_px_and_shows_details(page, tmp_path):
    for width, name in ((1280, "desktop"), (390, "phone")):
        shot = artifacts(tmp_path) / f"leaderboard-{name}.png"
        done = chromium(f"--screenshot={shot}", f"--window-size={width},1000", page.as_uri())
        assert done.returncode == 0 and shot.stat().st_size > 5000, done.stderr[-2000:]
    assert not scrolls_sideways(page, 1280)
    # long flags (a row with several failed attacks, from an older suite version) wrap
    recs = [record("vanilla", "clean", 0.96), record("vanilla", "worst_case", 0.96, 0.05)]
    for attack in ("hag", "center_pgd", "targeted_pgd", "hash_aa", "square_hash"):
        failed = record("a_defense_with_a_long_name", attack, 0.9, 0.3)
        failed["status"] = "failed"
        recs.append(failed)
    recs += [record("a_defense_with_a_long_name", "clean", 0.9),
             dict(record("vanilla", "clean", 0.96), suite={"name": "standard", "version": 2})]
    write_leaderboards(build_boards(recs), tmp_path / "long")
    assert not scrolls_sideways(tmp_path / "long" / "index.html", 1280)
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert dom.count('<details id="') == 4 and 'class="floor"' in dom
    assert "onerror=alert" not in re.sub(r"&lt;img src=x onerror=alert\(1\)&gt;", "", dom)
