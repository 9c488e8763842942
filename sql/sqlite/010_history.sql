-- SQLite twin of sql/mysql/010: the public-data ledger and the minutes history wrote.
CREATE TABLE IF NOT EXISTS history_files (
    file_path      TEXT    NOT NULL PRIMARY KEY,
    symbol         TEXT    NOT NULL,
    checksum       TEXT    NOT NULL,
    trade_count    INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    row_count      INTEGER NOT NULL,
    written        INTEGER NOT NULL,
    kept_live      INTEGER NOT NULL,
    differed       INTEGER NOT NULL,
    first_minute   TEXT    NULL,
    last_minute    TEXT    NULL,
    loaded_at      TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_minutes (
    symbol      TEXT NOT NULL,
    TIME        TEXT NOT NULL,
    file_path   TEXT NOT NULL,
    PRIMARY KEY (symbol, TIME)
) WITHOUT ROWID;
