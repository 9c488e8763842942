-- Live truth (issue 14): Binance's own closed 1-minute klines, and every minute checked
-- against them. Klines arrive through the trade path (a kline event line in the trade
-- objects, binance/klines.py) and are stored by the aggregator (minutes/klines.py).
--
-- A closed kline (x: true) is final at Binance, so a later different kline for the same
-- minute replaces the stored one (an upsert); the same kline again changes nothing.
-- Decimals are exact; the kline stream and REST print 8 places, which these columns keep.
CREATE TABLE IF NOT EXISTS binance_klines (
    symbol           VARCHAR(32)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    open_time        DATETIME       NOT NULL COMMENT 'start of the minute, UTC (the kline t)',
    price_open       DECIMAL(20, 8) NOT NULL,
    price_high       DECIMAL(20, 8) NOT NULL,
    price_low        DECIMAL(20, 8) NOT NULL,
    price_close      DECIMAL(20, 8) NOT NULL,
    volume           DECIMAL(30, 8) NOT NULL COMMENT 'base volume (BTC)',
    quote_volume     DECIMAL(42, 8) NOT NULL COMMENT 'quote volume (USDT), as Binance prints it',
    trades           BIGINT         NOT NULL COMMENT 'individual trades (n)',
    taker_buy_base   DECIMAL(30, 8) NOT NULL,
    taker_buy_quote  DECIMAL(42, 8) NOT NULL,
    stored_at        DATETIME(3)    NOT NULL COMMENT 'when this version was stored',
    PRIMARY KEY (symbol, open_time),
    KEY binance_klines_by_time (open_time)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;

-- The pending delay: a minute that closed less than this many seconds ago is 'pending'
-- (late trades may still arrive). One row; change it with an UPDATE (default 2 minutes).
CREATE TABLE IF NOT EXISTS minute_check_settings (
    id               TINYINT NOT NULL COMMENT 'always 1: the one row',
    pending_seconds  INT     NOT NULL COMMENT 'a minute is pending until this long after it closed',
    PRIMARY KEY (id),
    CONSTRAINT minute_check_settings_one_row CHECK (id = 1),
    CONSTRAINT minute_check_settings_delay CHECK (pending_seconds >= 0)
) ENGINE = InnoDB;

INSERT IGNORE INTO minute_check_settings (id, pending_seconds) VALUES (1, 120);

ALTER TABLE processed_objects
    ADD COLUMN klines INT NOT NULL DEFAULT 0 COMMENT 'lines that are valid closed klines, stored';

-- Per symbol and minute: our row's values beside the kline's, which fields differ and a STATUS:
--   pending   the minute closed less than minute_check_settings.pending_seconds ago;
--   no_kline  we have a row and no kline (yet);
--   agrees    every field agrees (a kline without trades and no row agree too);
--   differs   DIFFERING names the fields, comma-separated; a kline with trades and no row
--             differs in 'trades' (its row values are NULL).
-- STATUS and DIFFERING are ascii_bin, like every other character column (issue 10).
-- The comparison is minutes/verify.py's: equal values agree, and our exact quote volumes
-- (16 places) agree when cut or rounded to the kline's 8 places they equal it.
CREATE OR REPLACE VIEW minute_check AS
SELECT c.symbol,
       c.TIME,
       CAST(CASE
           WHEN c.TIME > UTC_TIMESTAMP() - INTERVAL (60 + (
               SELECT s.pending_seconds FROM minute_check_settings s WHERE s.id = 1)) SECOND
               THEN 'pending'
           WHEN c.KLINE_TRADES IS NULL THEN 'no_kline'
           WHEN c.DIFFERING = '' THEN 'agrees'
           ELSE 'differs'
       END AS CHAR(8) CHARACTER SET ascii) COLLATE ascii_bin AS STATUS,
       c.DIFFERING,
       c.PRICE_OPEN, c.KLINE_PRICE_OPEN,
       c.PRICE_HIGH, c.KLINE_PRICE_HIGH,
       c.PRICE_LOW, c.KLINE_PRICE_LOW,
       c.PRICE_CLOSE, c.KLINE_PRICE_CLOSE,
       c.VOLUME, c.KLINE_VOLUME,
       c.QUOTE_VOLUME, c.KLINE_QUOTE_VOLUME,
       c.TRADES, c.KLINE_TRADES,
       c.TAKER_BUY_BASE, c.KLINE_TAKER_BUY_BASE,
       c.TAKER_BUY_QUOTE, c.KLINE_TAKER_BUY_QUOTE
FROM (
    SELECT p.*,
           CONVERT(CONCAT_WS(',',
               IF(p.TRADES IS NULL AND p.KLINE_TRADES > 0, 'trades', NULL),
               IF(p.PRICE_OPEN <> p.KLINE_PRICE_OPEN, 'open', NULL),
               IF(p.PRICE_HIGH <> p.KLINE_PRICE_HIGH, 'high', NULL),
               IF(p.PRICE_LOW <> p.KLINE_PRICE_LOW, 'low', NULL),
               IF(p.PRICE_CLOSE <> p.KLINE_PRICE_CLOSE, 'close', NULL),
               IF(p.VOLUME <> p.KLINE_VOLUME, 'volume', NULL),
               IF(NOT (p.QUOTE_VOLUME = p.KLINE_QUOTE_VOLUME
                       OR TRUNCATE(p.QUOTE_VOLUME, 8) = p.KLINE_QUOTE_VOLUME
                       OR ROUND(p.QUOTE_VOLUME, 8) = p.KLINE_QUOTE_VOLUME), 'quote_volume', NULL),
               IF(p.TRADES <> p.KLINE_TRADES, 'trades', NULL),
               IF(p.TAKER_BUY_BASE <> p.KLINE_TAKER_BUY_BASE, 'taker_buy_base', NULL),
               IF(NOT (p.TAKER_BUY_QUOTE = p.KLINE_TAKER_BUY_QUOTE
                       OR TRUNCATE(p.TAKER_BUY_QUOTE, 8) = p.KLINE_TAKER_BUY_QUOTE
                       OR ROUND(p.TAKER_BUY_QUOTE, 8) = p.KLINE_TAKER_BUY_QUOTE), 'taker_buy_quote', NULL)
           ) USING ascii) COLLATE ascii_bin AS DIFFERING
    FROM (
        SELECT k.symbol,
               k.open_time                         AS TIME,
               m.PRICE_OPEN,                          k.price_open      AS KLINE_PRICE_OPEN,
               m.PRICE_HIGH,                          k.price_high      AS KLINE_PRICE_HIGH,
               m.PRICE_LOW,                           k.price_low       AS KLINE_PRICE_LOW,
               m.PRICE_CLOSE,                         k.price_close     AS KLINE_PRICE_CLOSE,
               m.TOTAL_BTC_BUY + m.TOTAL_BTC_SELL     AS VOLUME,          k.volume          AS KLINE_VOLUME,
               m.TOTAL_USD_BUY + m.TOTAL_USD_SELL     AS QUOTE_VOLUME,    k.quote_volume    AS KLINE_QUOTE_VOLUME,
               m.TRADES_BUY + m.TRADES_SELL           AS TRADES,          k.trades          AS KLINE_TRADES,
               m.TOTAL_BTC_BUY                        AS TAKER_BUY_BASE,  k.taker_buy_base  AS KLINE_TAKER_BUY_BASE,
               m.TOTAL_USD_BUY                        AS TAKER_BUY_QUOTE, k.taker_buy_quote AS KLINE_TAKER_BUY_QUOTE
        FROM binance_klines k
        LEFT JOIN trade_minutes m ON m.symbol = k.symbol AND m.TIME = k.open_time
        UNION ALL
        SELECT m.symbol,
               m.TIME,
               m.PRICE_OPEN, NULL,
               m.PRICE_HIGH, NULL,
               m.PRICE_LOW, NULL,
               m.PRICE_CLOSE, NULL,
               m.TOTAL_BTC_BUY + m.TOTAL_BTC_SELL, NULL,
               m.TOTAL_USD_BUY + m.TOTAL_USD_SELL, NULL,
               m.TRADES_BUY + m.TRADES_SELL, NULL,
               m.TOTAL_BTC_BUY, NULL,
               m.TOTAL_USD_BUY, NULL
        FROM trade_minutes m
        WHERE NOT EXISTS (SELECT 1 FROM binance_klines k WHERE k.symbol = m.symbol AND k.open_time = m.TIME)
    ) p
) c;
