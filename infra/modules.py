"""Which of this repo's Python files an entry point needs: its modules and theirs, found by reading
the source (``ast``), never by importing it (``infra`` imports no runtime package).

Followed: ``import a.b``, ``from a import b`` (``b`` a module or a name in ``a``), relative imports,
and imports inside functions (they run when called). Not followed: imports under
``if TYPE_CHECKING:`` (they never run) and names handed to ``importlib`` (none on the Lambda's
path; tests/unit/test_lambda_bundle.py imports the entry points and compares). Modules outside
the repo (the standard library, wheels) are the requirements file's business.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from infra.errors import BundleError


def module_files(entries: Iterable[str], root: Path) -> tuple[str, ...]:
    """Repo-relative POSIX paths of every module the ``entries`` (dotted names) import, with the
    ``__init__.py`` of each package on the way, sorted."""
    found: set[Path] = set()
    todo = list(entries)
    for name in todo:
        if _file_of(name, root) is None:
            raise BundleError(f"entry module {name!r} is not a file under {root}")
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _file_of(name, root)
        if path is None:
            continue  # not ours: the standard library or a wheel
        found.add(path)
        todo.extend(_packages_of(name))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(_imported(ast.parse(path.read_text(encoding="utf-8"), str(path)), package, root))
    return tuple(sorted(p.relative_to(root).as_posix() for p in found))


def _file_of(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _packages_of(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts)):
        yield ".".join(parts[:end])


def _imported(tree: ast.Module, package: str, root: Path) -> Iterator[str]:
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                if _file_of(candidate, root) is not None:  # `from package import module`
                    yield candidate


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (n for child in node.orelse for n in (child, *_runtime_nodes(child)))
            continue
        yield node
        yield from _runtime_nodes(node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
