"""Numbered schema migrations from ``sql/<dialect>/NNN_name.sql``, applied once each.

A file is a list of statements separated by ``;`` at the end of a line. Each applied
file is recorded in ``schema_migrations``; every statement is also written to be
harmless when repeated (``IF NOT EXISTS``, ``OR REPLACE``), so a run cut short between a
file and its record is safe to run again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from minutes.errors import MigrationError

SQL_DIR_ENV = "CRYPTOTRADES_SQL_DIR"
_FILE_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        text = "\n".join(
            line
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("--")
        )
        return [part.strip() for part in _STATEMENT_END.split(text) if part.strip()]


def sql_dir() -> Path:
    """Where the migrations are: ``$CRYPTOTRADES_SQL_DIR``, else ``sql/`` beside this package.

    The Lambda bundle and a source checkout both hold ``sql/`` next to ``lambda_aggregator/``.
    """
    override = os.environ.get(SQL_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parent.parent / "sql"


def migrations(dialect: str, root: Path | None = None) -> list[Migration]:
    folder = (root or sql_dir()) / dialect
    if not folder.is_dir():
        raise MigrationError(f"no migrations for {dialect!r}: {folder} is not a directory")
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: a migration is named NNN_name.sql")
        found.append(Migration(int(match["version"]), match["name"], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{folder}: two migrations share a number: {versions}")
    return found
