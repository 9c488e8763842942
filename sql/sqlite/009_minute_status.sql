-- SQLite twin of sql/mysql/009.
DROP VIEW IF EXISTS trade_minutes_status;
CREATE VIEW trade_minutes_status AS
SELECT m.symbol,
       m.TIME,
       EXISTS (
           SELECT 1 FROM final_ranges f
           WHERE f.symbol IN (m.symbol, '*') AND m.TIME >= f.start_time AND m.TIME < f.end_time
       ) AS FINAL
FROM trade_minutes m;
