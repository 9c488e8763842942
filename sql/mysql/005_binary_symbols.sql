-- Symbols compare byte for byte (issue 10). Under the server's default collation 'btcusdt',
-- 'BTCUSDT ' and 'BTCÜSDT' were the same key as 'BTCUSDT', so one stray line could replace a
-- real minute row. Rows under symbols the trade contract (binance/contract.py) refuses are
-- removed (their lines are still in the raw S3 objects); the minutes they may have disturbed
-- are queued in minutes_to_recompute, which `cryptotrades db migrate` recomputes from the
-- remaining trades right after; then every key column becomes binary. Works on an existing
-- database: every statement can run again.

CREATE TABLE IF NOT EXISTS minutes_to_recompute (
    TIME DATETIME NOT NULL COMMENT 'a minute to recompute for every symbol, then forget',
    PRIMARY KEY (TIME)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;

INSERT IGNORE INTO minutes_to_recompute (TIME)
SELECT DISTINCT TIME FROM trade_minutes
WHERE CHAR_LENGTH(symbol) NOT BETWEEN 2 AND 32
   OR CONVERT(symbol USING utf8mb4) COLLATE utf8mb4_bin REGEXP '[^A-Z0-9_]|^_|_$|__';

INSERT IGNORE INTO minutes_to_recompute (TIME)
SELECT DISTINCT TIMESTAMPADD(MINUTE, trade_time DIV 60000, '1970-01-01 00:00:00') FROM agg_trades
WHERE CHAR_LENGTH(symbol) NOT BETWEEN 2 AND 32
   OR CONVERT(symbol USING utf8mb4) COLLATE utf8mb4_bin REGEXP '[^A-Z0-9_]|^_|_$|__';

DELETE FROM agg_trades
WHERE CHAR_LENGTH(symbol) NOT BETWEEN 2 AND 32
   OR CONVERT(symbol USING utf8mb4) COLLATE utf8mb4_bin REGEXP '[^A-Z0-9_]|^_|_$|__';

DELETE FROM trade_minutes
WHERE CHAR_LENGTH(symbol) NOT BETWEEN 2 AND 32
   OR CONVERT(symbol USING utf8mb4) COLLATE utf8mb4_bin REGEXP '[^A-Z0-9_]|^_|_$|__';

ALTER TABLE agg_trades
    MODIFY symbol VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;

ALTER TABLE trade_minutes
    MODIFY symbol VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;

ALTER TABLE processed_objects
    MODIFY object_id      CHAR(64)      CHARACTER SET ascii   COLLATE ascii_bin   NOT NULL
                          COMMENT 'sha256 of bucket, key and etag',
    MODIFY bucket         VARCHAR(255)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY object_key     VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY etag           VARCHAR(128)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY quarantine_key VARCHAR(1100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

ALTER TABLE schema_migrations
    MODIFY name       VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY applied_at VARCHAR(32)  CHARACTER SET ascii   COLLATE ascii_bin   NOT NULL;

-- Tables added later default to binary comparison too.
ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
