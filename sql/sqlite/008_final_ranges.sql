-- SQLite twin of sql/mysql/008: final minutes, TIME text as in trade_minutes.
CREATE TABLE IF NOT EXISTS final_ranges (
    symbol     TEXT NOT NULL, -- a symbol, or * for every symbol
    start_time TEXT NOT NULL, -- first final minute, UTC (inclusive)
    end_time   TEXT NOT NULL, -- end of the range, UTC (exclusive)
    source     TEXT NOT NULL, -- retention | history
    marked_at  TEXT NOT NULL,
    PRIMARY KEY (symbol, start_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS final_ranges_by_end ON final_ranges (symbol, end_time);
