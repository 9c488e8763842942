"""The QuickSight data sets declare the columns the real schema has, with matching types.

CloudFormation needs every data set's columns written out (infra/quicksight.py); this applies
the MySQL migrations to a fresh MariaDB database and compares with information_schema, so a
changed view cannot leave QuickSight asking for a column that is gone.
"""

from __future__ import annotations

import pytest

from infra.quicksight import DATA_SETS
from minutes.store import open_store

pytestmark = pytest.mark.integration

# MySQL DATA_TYPE -> the QuickSight input type it is declared as.
QUICKSIGHT_TYPE = {
    "varchar": "STRING",
    "char": "STRING",
    "datetime": "DATETIME",
    "date": "DATETIME",
    "int": "INTEGER",
    "bigint": "INTEGER",
    "decimal": "DECIMAL",
}


def test_every_data_set_matches_its_table_or_view(mysql_url: str) -> None:
    with open_store(mysql_url) as store:
        store.migrate()
        for table, declared in DATA_SETS.items():
            rows = store.execute(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (table,),
            )
            actual = [(name, QUICKSIGHT_TYPE[kind.lower()]) for name, kind in rows]
            assert actual == list(declared), table
