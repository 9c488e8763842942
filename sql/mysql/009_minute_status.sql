-- Each minute row with whether it is final (see 008): for dashboards and for anyone who
-- must know that a row will not change any more.
CREATE OR REPLACE VIEW trade_minutes_status AS
SELECT m.symbol,
       m.TIME,
       EXISTS (
           SELECT 1 FROM final_ranges f
           WHERE f.symbol IN (m.symbol, '*') AND m.TIME >= f.start_time AND m.TIME < f.end_time
       ) AS FINAL
FROM trade_minutes m;
