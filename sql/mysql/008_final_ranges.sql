-- Final minutes. A minute of `symbol` is final when a row here has
-- symbol IN (that symbol, '*') AND start_time <= TIME < end_time. A final minute's row is
-- never recomputed from stored trades (its raw trades may be gone): a late object for it is
-- recorded in the ledger as 'late' and not stored. Two writers add rows:
--   'retention' (symbol '*', one row from 1970): the aggregator's retention, before it drops
--               the raw trades of minutes older than its window;
--   'history'   (one row per symbol and range): loaders of Binance's public data, whose
--               rows are complete and must not be overwritten from live partial data.
-- `cryptotrades rebuild` rewrites final minutes too, from the raw S3 objects, on purpose.
CREATE TABLE IF NOT EXISTS final_ranges (
    symbol     VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
               COMMENT 'a symbol, or * for every symbol',
    start_time DATETIME    NOT NULL COMMENT 'first final minute, UTC (inclusive)',
    end_time   DATETIME    NOT NULL COMMENT 'end of the range, UTC (exclusive)',
    source     VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'retention | history',
    marked_at  DATETIME(3) NOT NULL,
    PRIMARY KEY (symbol, start_time),
    KEY final_ranges_by_end (symbol, end_time)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;
