-- SQLite twin of sql/mysql/005. SQLite compares TEXT byte for byte already (BINARY is its
-- default collation), so only the rows under symbols the trade contract refuses are removed
-- and their minutes queued for a recompute (done by `cryptotrades db migrate` right after).
CREATE TABLE IF NOT EXISTS minutes_to_recompute (TIME TEXT NOT NULL PRIMARY KEY);

INSERT OR IGNORE INTO minutes_to_recompute (TIME)
SELECT DISTINCT TIME FROM trade_minutes
WHERE length(symbol) NOT BETWEEN 2 AND 32 OR symbol GLOB '*[^A-Z0-9_]*'
   OR symbol GLOB '_*' OR symbol GLOB '*_' OR symbol GLOB '*__*';

INSERT OR IGNORE INTO minutes_to_recompute (TIME)
SELECT DISTINCT strftime('%Y-%m-%d %H:%M:%S', (trade_time / 60000) * 60, 'unixepoch') FROM agg_trades
WHERE length(symbol) NOT BETWEEN 2 AND 32 OR symbol GLOB '*[^A-Z0-9_]*'
   OR symbol GLOB '_*' OR symbol GLOB '*_' OR symbol GLOB '*__*';

DELETE FROM agg_trades
WHERE length(symbol) NOT BETWEEN 2 AND 32 OR symbol GLOB '*[^A-Z0-9_]*'
   OR symbol GLOB '_*' OR symbol GLOB '*_' OR symbol GLOB '*__*';

DELETE FROM trade_minutes
WHERE length(symbol) NOT BETWEEN 2 AND 32 OR symbol GLOB '*[^A-Z0-9_]*'
   OR symbol GLOB '_*' OR symbol GLOB '*_' OR symbol GLOB '*__*';
