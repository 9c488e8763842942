"""The package rules of docs/architecture.md: who may import whom, and one place for each shared fact.

Read from the source (``ast``): every ``import`` and ``from ... import`` of every module, at
any depth (inside functions and ``TYPE_CHECKING`` blocks too: a rule holds for all of them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import contract.pipeline
from tests.fixtures.infra import REPO_ROOT

# Package -> the packages of ours it may import. tests/ and bench/ may import anything.
ALLOWED: dict[str, frozenset[str]] = {
    "contract": frozenset(),
    "binance": frozenset({"contract"}),
    "minutes": frozenset({"contract", "binance"}),
    "producer": frozenset({"contract", "binance"}),
    "lambda_aggregator": frozenset({"contract", "binance", "minutes"}),
    "dashboard": frozenset({"contract", "binance", "minutes"}),
    # The columnar engine for files (DuckDB, Arrow): its own package so the Lambda bundle,
    # which holds minutes/, carries none of it.
    "bulk": frozenset({"contract", "binance", "minutes"}),
    # The one-box runs the producer and the dashboard as they are; the Lambda's handler it
    # loads by name (contract.pipeline.AGGREGATOR_HANDLER), as the Lambda runtime does.
    "onebox": frozenset({"contract", "binance", "minutes", "producer", "dashboard"}),
    "cryptotrades": frozenset({"contract", "binance", "minutes", "bulk", "producer", "dashboard", "onebox"}),
    # The CDK app reads the other packages as files (infra/bundle.py, infra/modules.py).
    "infra": frozenset({"contract"}),
}
UNRESTRICTED = frozenset({"tests", "bench"})
OURS = frozenset(ALLOWED) | UNRESTRICTED

# Values of contract.pipeline that no other module may spell out: a copy drifts.
SHARED_FACTS = {
    value: name
    for name, value in vars(contract.pipeline).items()
    if name.endswith("_ENV")
    or name
    in (
        "TRADES_PREFIX",
        "REJECTED_PREFIX",
        "AGGREGATOR_HANDLER",
        "SCHEMA_HANDLER",
        "DEFAULT_DB_URL",
        "ONEBOX_DB_FILE",
        "AGGREGATOR_SERVICE_NAME",
    )
}
# Copies that predate contract/ in modules another lane was editing while it landed; each
# goes when its module is next touched. The list may only shrink.
KNOWN_COPIES = {
    ("bench/producer.py", "KAFKA_BOOTSTRAP_ENV"),
    ("bench/producer.py", "TOPIC_ENV"),
    ("infra/kafka_host.py", "TOPIC_ENV"),
    ("infra/kafka_host.py", "BUCKET_ENV"),
    ("infra/kafka_host.py", "REGION_ENV"),
    ("producer/settings.py", "KAFKA_BOOTSTRAP_ENV"),
    ("producer/settings.py", "TOPIC_ENV"),
}


def modules() -> Iterator[tuple[str, Path]]:
    for package in sorted(OURS):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            yield package, path


def imported(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(top-level package, line) of every absolute import; relative ones stay in their package."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def import_violations(package: str, path: Path, tree: ast.AST) -> list[str]:
    if package in UNRESTRICTED:
        return []
    where = path.relative_to(REPO_ROOT)
    allowed = ", ".join(sorted(ALLOWED[package])) or "none"
    return [
        f"{where}:{line}: {package} may not import {target} (allowed: {allowed})"
        for target, line in imported(tree)
        if target in OURS and target != package and target not in ALLOWED[package]
    ]


def test_every_package_imports_only_what_docs_architecture_allows():
    found = [
        v
        for package, path in modules()
        for v in import_violations(package, path, ast.parse(path.read_text()))
    ]
    assert found == []


def test_the_rules_have_no_cycle_and_cover_every_package():
    assert {p.name for p in REPO_ROOT.iterdir() if (p / "__init__.py").is_file()} <= OURS
    order: list[str] = []
    while len(order) < len(ALLOWED):
        ready = [p for p in ALLOWED if p not in order and ALLOWED[p] <= set(order)]
        assert ready, f"a cycle among {set(ALLOWED) - set(order)}"
        order += sorted(ready)


@pytest.mark.parametrize(
    ("package", "source", "allowed"),
    [
        ("binance", "from minutes.store import Store", False),
        ("minutes", "def f():\n    import onebox.stages", False),
        ("dashboard", "import lambda_aggregator.handler", False),
        ("infra", "from binance.events import AggTrade", False),
        ("onebox", "from producer.state import save_state", True),
        ("tests", "import lambda_aggregator.handler", True),
        ("contract", "import json\nfrom typing import Any", True),
    ],
)
def test_the_import_check_tells_a_forbidden_import_from_an_allowed_one(package, source, allowed):
    found = import_violations(package, REPO_ROOT / package / "x.py", ast.parse(source))
    assert (found == []) is allowed, found


def literal_copies() -> set[tuple[str, str]]:
    found = set()
    for package, path in modules():
        if package in ("contract", "tests"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in SHARED_FACTS:
                found.add((path.relative_to(REPO_ROOT).as_posix(), SHARED_FACTS[node.value]))
    return found


def test_shared_facts_are_imported_from_contract_not_copied():
    new = literal_copies() - KNOWN_COPIES
    assert new == set(), "import these from contract.pipeline instead of writing them out"


def test_the_list_of_known_copies_only_shrinks():
    assert KNOWN_COPIES - literal_copies() == set(), "a copy was removed: take it off KNOWN_COPIES"
