"""Every Markdown link to a file of this repo, and every backticked repo path, names something that exists.

Links: ``[text](target)`` with a relative target, resolved from the Markdown file's folder; a
``#anchor`` must be a heading of the target (GitHub's slugs). Backticked paths: a
``word/...`` whose first folder is a top-level folder of the repo, without placeholders
(``<stage>``, ``*``, ``%Y``, ``…``), resolved from the repo root; folders the programs make
at run time (``data/onebox/``, ``data/history/``, ``build/``, ``cdk.out/``) are not in the repo
and not checked,
nor are lines naming another repository (provenance: ``github.com/...``, ``tests/fixtures/x``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.infra import REPO_ROOT

SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".venv-checkov",
    "node_modules",
    "cdk.out",
    "build",
    ".pytest_cache",
    ".ruff_cache",
}
RUNTIME_PATHS = ("data/onebox", "data/history", "build/", "cdk.out")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`\s]+)`")
_FENCE = re.compile(r"^(```|~~~)")
_PLACEHOLDER = re.compile(r"[<>*%{}…$]|\.\.\.|NNN|YYYY|ACCOUNT")


def markdown_files() -> list[Path]:
    return sorted(
        path
        for path in REPO_ROOT.rglob("*.md")
        if not SKIPPED_DIRS.intersection(path.relative_to(REPO_ROOT).parts)
        and not any(part.endswith(".egg-info") for part in path.relative_to(REPO_ROOT).parts)
    )


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            base = slug(line.lstrip("#"))
            name, n = base, 1
            while name in found:  # GitHub numbers repeated headings
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return found


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    lines, in_fence = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            lines.append((number, line))
    return lines


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, line in prose(path):
        for match in _LINK.finditer(line):
            target = match[1] or match[2]
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO_ROOT)}:{number}"
            if not resolved.exists():
                problems.append(f"{where}: {target} does not exist")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                problems.append(f"{where}: {target}: no heading with that anchor")
    return problems


def broken_paths(path: Path) -> list[str]:
    top = {p.name for p in REPO_ROOT.iterdir() if p.is_dir() and p.name not in SKIPPED_DIRS}
    problems = []
    for number, line in prose(path):
        if "github.com/" in line:
            continue  # its paths are that repository's
        for match in _CODE.finditer(line):
            text = match[1].split("::")[0].rstrip(".,:;)")
            if "/" not in text or _PLACEHOLDER.search(text) or text.startswith(("/", "http", "s3:")):
                continue
            text = text.removeprefix("./")
            if text.split("/")[0] not in top or text.startswith(RUNTIME_PATHS):
                continue
            if not (REPO_ROOT / text).exists():
                problems.append(f"{path.relative_to(REPO_ROOT)}:{number}: `{match[1]}` is not in the repo")
    return problems


def test_there_are_markdown_files_to_check():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "docs/architecture.md", "vector/README.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_link_names_a_file_and_heading_that_exist(path: Path):
    assert broken_links(path) == []


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_backticked_repo_path_exists(path: Path):
    assert broken_paths(path) == []


def test_the_checks_find_a_missing_file_a_missing_heading_and_a_missing_path(tmp_path: Path):
    page = REPO_ROOT / "docs" / "architecture.md"
    text = "[a](missing.md) [b](architecture.md#no-such-heading) [c](architecture.md#who-may-import-whom)\n"
    text += "`onebox/no_such_module.py` `onebox/stages.py` `data/onebox/cryptotrades.db` `sql/<dialect>/`\n"
    text += "```\n[not a link](inside-a-fence.md)\n```\n"
    probe = page.with_name(f"probe-{tmp_path.name}.md")
    probe.write_text(text)
    try:
        assert [p.split(": ", 1)[1] for p in broken_links(probe)] == [
            "missing.md does not exist",
            "architecture.md#no-such-heading: no heading with that anchor",
        ]
        assert [p.split(": ", 1)[1] for p in broken_paths(probe)] == [
            "`onebox/no_such_module.py` is not in the repo"
        ]
    finally:
        probe.unlink()
