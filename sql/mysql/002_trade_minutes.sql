-- One row per market and UTC minute, counted by the taker's side (Binance's convention).
-- The seed's columns keep the seed's names; the rest make a row checkable against a 1m kline.
CREATE TABLE IF NOT EXISTS trade_minutes (
    symbol            VARCHAR(20)    NOT NULL,
    TIME              DATETIME       NOT NULL COMMENT 'start of the minute, UTC',
    TOTAL_COUNT_BUY   INT            NOT NULL COMMENT 'aggregate trades whose taker bought',
    TOTAL_COUNT_SELL  INT            NOT NULL COMMENT 'aggregate trades whose taker sold',
    TOTAL_BTC_BUY     DECIMAL(30, 8) NOT NULL,
    TOTAL_BTC_SELL    DECIMAL(30, 8) NOT NULL,
    TOTAL_USD_BUY     DECIMAL(40, 16) NOT NULL COMMENT 'sum of price * qty, exact',
    TOTAL_USD_SELL    DECIMAL(40, 16) NOT NULL,
    TRADES_BUY        INT            NOT NULL COMMENT 'individual trades: sum of last - first + 1',
    TRADES_SELL       INT            NOT NULL,
    PRICE_OPEN        DECIMAL(20, 8) NOT NULL,
    PRICE_HIGH        DECIMAL(20, 8) NOT NULL,
    PRICE_LOW         DECIMAL(20, 8) NOT NULL,
    PRICE_CLOSE       DECIMAL(20, 8) NOT NULL,
    FIRST_AGG_ID      BIGINT         NOT NULL,
    LAST_AGG_ID       BIGINT         NOT NULL,
    PRIMARY KEY (symbol, TIME),
    KEY trade_minutes_by_time (TIME)
) ENGINE = InnoDB;
