"""The documentation points at files that exist: every `*.md` a docstring or comment names, and every
repository path the README and docs/ name in backticks.

A reference to a document that was never written (or a module that moved) sends a reader nowhere; these
tests make such a reference fail the suite instead.
"""

import re
from pathlib import Path

import pytest

from support import ROOT

CODE_DIRS = ("lfm", "ui", "app_pages", "pages", "bench")  # the project's own code ("pages" once app_pages moves)
MD_PATH = re.compile(r"[\w./-]*\w\.md\b")  # design.md, docs/architecture.md, README.md, ...
# a path in backticks that starts at one of the repository's folders, e.g. `lfm/store/files.py` or `ui/`
REPO_PATH = re.compile(r"`((?:lfm|ui|app_pages|pages|assets|bench|tests|docs|scripts)/[\w./-]*)`")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_files() -> list[Path]:
    files = [ROOT / "streamlit_app.py"]
    for folder in CODE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def md_mentions(path: Path) -> list[str]:
    """Every *.md path the file's text names (docstrings, comments and strings alike)."""
    return MD_PATH.findall(path.read_text(encoding="utf-8"))


def exists(mention: str, mentioned_in: Path) -> bool:
    """A mention resolves from the repository root or from the mentioning file's folder."""
    return (ROOT / mention).exists() or (mentioned_in.parent / mention).exists()


def test_the_docs_exist():
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert len(code_files()) > 20  # the scan below really looks at the code


@pytest.mark.parametrize("text, expected", [
    ("see docs/design.md §3", ["docs/design.md"]),
    ("(design.md §2 names the three", ["design.md"]),
    ('README.md "How it fits together"', ["README.md"]),
    ("notes/contract.md.", ["notes/contract.md"]),
    ("markdown, .mdx, cmd_train", []),
])
def test_md_mentions_are_found(text, expected):
    assert MD_PATH.findall(text) == expected


def test_every_md_file_the_code_mentions_exists():
    missing = [f"{path.relative_to(ROOT)}: {mention}" for path in code_files() for mention in md_mentions(path)
               if not exists(mention, path)]
    assert not missing, "documents named in the code but not in the repository:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_the_docs_name_exists(doc):
    missing = [p for p in REPO_PATH.findall(doc.read_text(encoding="utf-8")) if not (ROOT / p).exists()]
    assert not missing, f"{doc.name} names paths that are not in the repository: {missing}"
