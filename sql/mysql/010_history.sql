-- History from Binance's public data (cryptotrades backfill). Numbered 010-014 for this feature.
-- The ledger: one row per public-data file loaded, so a rerun skips it and a changed file is seen.
CREATE TABLE IF NOT EXISTS history_files (
    file_path      VARCHAR(255)  NOT NULL COMMENT 'path under the public-data base, e.g. data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-01-01.zip',
    symbol         VARCHAR(32)   NOT NULL,
    checksum       CHAR(64)      NOT NULL COMMENT 'sha256 of the zip, as its .CHECKSUM says and as verified',
    trade_count    BIGINT        NOT NULL COMMENT 'aggregate trades accepted',
    rejected       BIGINT        NOT NULL COMMENT 'lines the reference parser rejected',
    row_count      INT           NOT NULL COMMENT 'minute rows the file gave',
    written        INT           NOT NULL COMMENT 'minute rows written (not held by the live path, or --replace)',
    kept_live      INT           NOT NULL COMMENT 'minutes the live path held and history left alone',
    differed       INT           NOT NULL COMMENT 'of those, minutes whose live row differs from history',
    first_minute   DATETIME      NULL,
    last_minute    DATETIME      NULL,
    loaded_at      DATETIME(3)   NOT NULL,
    PRIMARY KEY (file_path)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;

-- Which minute rows history wrote (final rows, never recomputed from raw trades), and from which
-- file. A minute of trade_minutes without a row here was written by the live path.
CREATE TABLE IF NOT EXISTS history_minutes (
    symbol      VARCHAR(32)  NOT NULL,
    TIME        DATETIME     NOT NULL,
    file_path   VARCHAR(255) NOT NULL,
    PRIMARY KEY (symbol, TIME)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;
