"""The Lambda bundle holds the modules its handlers import, and no other module of this repo.

`infra.modules.module_files` reads the imports from the source (infra imports no runtime
package); here the handlers are really imported, in a fresh interpreter, and the modules of
this repo that Python loaded must be exactly the bundle's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from contract.pipeline import AGGREGATOR_HANDLER, FRESHNESS_HANDLER, SCHEMA_HANDLER
from infra.aggregator import ENTRY_MODULES, lambda_bundle, lambda_sources
from infra.bundle import iter_files
from infra.modules import module_files
from tests.fixtures.infra import REPO_ROOT

_LOADED = """
import importlib, json, sys
from pathlib import Path
for name in sys.argv[1:]:
    importlib.import_module(name)
root = Path.cwd().resolve()
files = set()
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None)
    if path and Path(path).resolve().is_relative_to(root):
        relative = Path(path).resolve().relative_to(root)
        if not relative.parts[0].startswith("."):  # not the virtualenv's packages
            files.add(relative.as_posix())
print(json.dumps(sorted(files)))
"""


def loaded_by_importing(*modules: str) -> set[str]:
    """The repo's files Python loads to import ``modules`` (no AWS, no database needed)."""
    result = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(result.stdout))


def test_the_bundle_holds_exactly_the_modules_the_handlers_import():
    assert (
        tuple(h.rpartition(".")[0] for h in (AGGREGATOR_HANDLER, SCHEMA_HANDLER, FRESHNESS_HANDLER))
        == ENTRY_MODULES
    )
    bundled = {path for path in lambda_sources() if path.endswith(".py")}
    assert bundled == loaded_by_importing(*ENTRY_MODULES)


def test_the_bundle_leaves_out_what_only_other_stages_use():
    bundled = {relative for relative, _ in iter_files(lambda_bundle(arm64=True, ca_bundle=None))}
    for unused in ("binance/rest.py", "binance/streams.py"):
        assert unused not in bundled
    # Kline lines arrive in the trade objects (issue 14): the aggregator parses and checks them.
    assert {"binance/klines.py", "minutes/klines.py", "minutes/verify.py"} <= bundled
    assert not any(
        path.startswith(("producer/", "onebox/", "dashboard/", "cryptotrades/")) for path in bundled
    )
    assert {path for path in bundled if path.startswith("sql/")} == {
        path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "sql").rglob("*") if path.is_file()
    }


def test_imports_are_followed_from_functions_relative_forms_and_packages_but_not_type_checking(
    tmp_path: Path,
):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "entry.py").write_text(
        "from typing import TYPE_CHECKING\nimport json\nfrom . import helper\n"
        "if TYPE_CHECKING:\n    from pkg import typing_only\n"
        "def later():\n    from pkg.sub.deep import VALUE\n    return VALUE\n"
    )
    (package / "helper.py").write_text("from .sub import sibling\n")
    (package / "sub" / "sibling.py").write_text("X = 1\n")
    (package / "sub" / "deep.py").write_text("VALUE = 2\n")
    (package / "typing_only.py").write_text("")
    (package / "unused.py").write_text("")
    assert module_files(["pkg.entry"], tmp_path) == (
        "pkg/__init__.py",
        "pkg/entry.py",
        "pkg/helper.py",
        "pkg/sub/__init__.py",
        "pkg/sub/deep.py",
        "pkg/sub/sibling.py",
    )
