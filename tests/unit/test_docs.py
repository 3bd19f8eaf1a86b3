"""The docs are self-contained: every note the code or the docs cite is a file of the
repository holding the cited section, every relative link in the Markdown resolves, and the
citation metadata says the package's version."""

import re
import subprocess
from pathlib import Path

import hashbench

ROOT = Path(__file__).resolve().parents[2]
NOTES = {"methods.md": ROOT / "docs/methods.md", "design.md": ROOT / "docs/design.md"}


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    files = [ROOT / f for f in out.stdout.splitlines()] if out.returncode == 0 else \
        [p for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts]
    return [f for f in files if f.suffix in (".py", ".md", ".toml", ".cfg", ".txt", "")
            and f.is_file() and not f.is_relative_to(ROOT / "leaderboard")]


def test_every_cited_note_and_section_is_in_the_repository():
    sections = {name: set(re.findall(r"^#+ (\d+(?:\.\d+)*)\b", p.read_text(), flags=re.M))
                for name, p in NOTES.items()}
    pitfalls = set(re.findall(r"\*\*(P\d+)\.", NOTES["methods.md"].read_text()))
    cited = 0
    for path in tracked_text_files():
        if path == Path(__file__).resolve():
            continue  # this file names the notes it looks for
        text = path.read_text(errors="replace")
        for name in re.findall(r"\b([a-z_-]+\.md)\b", text):
            if name in ("methods.md", "design.md", "lessons.md", "house-style.md"):
                assert name in NOTES, f"{path}: cites {name}, which the repository does not hold"
        for m in re.finditer(r"methods\.md,? (?:section )?((?:P\d+|\d+(?:\.\d+)*)(?:[-, ]+"
                             r"(?:and )?(?:P\d+|\d+(?:\.\d+)*))*)", text):
            for ref in re.findall(r"P\d+|\d+(?:\.\d+)*", m.group(1)):
                cited += 1
                if ref.startswith("P"):
                    lo = int(ref[1:])
                    assert ref in pitfalls, f"{path}: cites methods.md {ref}, not in the note"
                    assert lo <= 14
                else:
                    assert ref in sections["methods.md"], \
                        f"{path}: cites methods.md {ref}, no such section in docs/methods.md"
    assert cited >= 10  # the code does cite it: the test reads what it means to


def test_relative_links_in_the_docs_resolve():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
                *sorted((ROOT / "benchmarks").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: link to {target} is dead"


def test_licence_and_citation_name_this_version():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    assert f'version: "{hashbench.__version__}"' in cff and "license: MIT" in cff
    readme = (ROOT / "README.md").read_text()
    assert f"version = {{{hashbench.__version__}}}" in readme and "## How to cite" in readme
