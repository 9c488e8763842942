-- SQLite twin of sql/mysql/011: Binance's closed 1-minute klines and the minute check.
-- Decimals are exact TEXT at 8 places; the view compares them with published_as and sums
-- with decimal_add, exact functions registered on every connection (minutes/sqlite_functions.py).
CREATE TABLE IF NOT EXISTS binance_klines (
    symbol           TEXT    NOT NULL,
    open_time        TEXT    NOT NULL,
    price_open       TEXT    NOT NULL,
    price_high       TEXT    NOT NULL,
    price_low        TEXT    NOT NULL,
    price_close      TEXT    NOT NULL,
    volume           TEXT    NOT NULL,
    quote_volume     TEXT    NOT NULL,
    trades           INTEGER NOT NULL,
    taker_buy_base   TEXT    NOT NULL,
    taker_buy_quote  TEXT    NOT NULL,
    stored_at        TEXT    NOT NULL,
    PRIMARY KEY (symbol, open_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS binance_klines_by_time ON binance_klines (open_time);

CREATE TABLE IF NOT EXISTS minute_check_settings (
    id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    pending_seconds  INTEGER NOT NULL CHECK (pending_seconds >= 0)
);
INSERT OR IGNORE INTO minute_check_settings (id, pending_seconds) VALUES (1, 120);

ALTER TABLE processed_objects ADD COLUMN klines INTEGER NOT NULL DEFAULT 0;

DROP VIEW IF EXISTS minute_check;
CREATE VIEW minute_check AS
SELECT c.symbol,
       c.TIME,
       CASE
           WHEN c.TIME > datetime('now', '-' || (60 + (
               SELECT s.pending_seconds FROM minute_check_settings s WHERE s.id = 1)) || ' seconds')
               THEN 'pending'
           WHEN c.KLINE_TRADES IS NULL THEN 'no_kline'
           WHEN c.DIFFERING = '' THEN 'agrees'
           ELSE 'differs'
       END AS STATUS,
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
    -- Each differing field adds ',name'; substr drops the first comma.
    SELECT p.*,
           substr(
               CASE WHEN p.TRADES IS NULL AND p.KLINE_TRADES > 0 THEN ',trades' ELSE '' END
               || CASE WHEN NOT published_as(p.PRICE_OPEN, p.KLINE_PRICE_OPEN) THEN ',open' ELSE '' END
               || CASE WHEN NOT published_as(p.PRICE_HIGH, p.KLINE_PRICE_HIGH) THEN ',high' ELSE '' END
               || CASE WHEN NOT published_as(p.PRICE_LOW, p.KLINE_PRICE_LOW) THEN ',low' ELSE '' END
               || CASE WHEN NOT published_as(p.PRICE_CLOSE, p.KLINE_PRICE_CLOSE) THEN ',close' ELSE '' END
               || CASE WHEN NOT published_as(p.VOLUME, p.KLINE_VOLUME) THEN ',volume' ELSE '' END
               || CASE WHEN NOT published_as(p.QUOTE_VOLUME, p.KLINE_QUOTE_VOLUME)
                       THEN ',quote_volume' ELSE '' END
               || CASE WHEN p.TRADES <> p.KLINE_TRADES THEN ',trades' ELSE '' END
               || CASE WHEN NOT published_as(p.TAKER_BUY_BASE, p.KLINE_TAKER_BUY_BASE)
                       THEN ',taker_buy_base' ELSE '' END
               || CASE WHEN NOT published_as(p.TAKER_BUY_QUOTE, p.KLINE_TAKER_BUY_QUOTE)
                       THEN ',taker_buy_quote' ELSE '' END,
               2
           ) AS DIFFERING
    FROM (
        SELECT k.symbol,
               k.open_time                                   AS TIME,
               m.PRICE_OPEN,                                    k.price_open      AS KLINE_PRICE_OPEN,
               m.PRICE_HIGH,                                    k.price_high      AS KLINE_PRICE_HIGH,
               m.PRICE_LOW,                                     k.price_low       AS KLINE_PRICE_LOW,
               m.PRICE_CLOSE,                                   k.price_close     AS KLINE_PRICE_CLOSE,
               decimal_add(m.TOTAL_BTC_BUY, m.TOTAL_BTC_SELL)   AS VOLUME,          k.volume          AS KLINE_VOLUME,
               decimal_add(m.TOTAL_USD_BUY, m.TOTAL_USD_SELL)   AS QUOTE_VOLUME,    k.quote_volume    AS KLINE_QUOTE_VOLUME,
               m.TRADES_BUY + m.TRADES_SELL                     AS TRADES,          k.trades          AS KLINE_TRADES,
               m.TOTAL_BTC_BUY                                  AS TAKER_BUY_BASE,  k.taker_buy_base  AS KLINE_TAKER_BUY_BASE,
               m.TOTAL_USD_BUY                                  AS TAKER_BUY_QUOTE, k.taker_buy_quote AS KLINE_TAKER_BUY_QUOTE
        FROM binance_klines k
        LEFT JOIN trade_minutes m ON m.symbol = k.symbol AND m.TIME = k.open_time
        UNION ALL
        SELECT m.symbol,
               m.TIME,
               m.PRICE_OPEN, NULL,
               m.PRICE_HIGH, NULL,
               m.PRICE_LOW, NULL,
               m.PRICE_CLOSE, NULL,
               decimal_add(m.TOTAL_BTC_BUY, m.TOTAL_BTC_SELL), NULL,
               decimal_add(m.TOTAL_USD_BUY, m.TOTAL_USD_SELL), NULL,
               m.TRADES_BUY + m.TRADES_SELL, NULL,
               m.TOTAL_BTC_BUY, NULL,
               m.TOTAL_USD_BUY, NULL
        FROM trade_minutes m
        WHERE NOT EXISTS (SELECT 1 FROM binance_klines k WHERE k.symbol = m.symbol AND k.open_time = m.TIME)
    ) p
) c;
