-- Columns sized so that no minute of valid trades can overflow (issue 10: two buys at the
-- largest price and quantity overflowed TOTAL_USD_*, and l - f >= 2^31 overflowed TRADES_*).
-- The bound, stated in binance/contract.py: at most 2^31 - 1 aggregate trades of one symbol
-- in one minute, each of at most 2^31 trades, price and quantity below 10^12:
--   counts < 2^31 (BIGINT), trades < 2^62 (BIGINT), BTC < 2^31 * 10^12 < 10^22 (DECIMAL(30, 8)),
--   USD < 2^31 * 10^24 < 10^34 (DECIMAL(50, 16)).
ALTER TABLE trade_minutes
    MODIFY TOTAL_COUNT_BUY  BIGINT          NOT NULL COMMENT 'aggregate trades whose taker bought',
    MODIFY TOTAL_COUNT_SELL BIGINT          NOT NULL COMMENT 'aggregate trades whose taker sold',
    MODIFY TOTAL_USD_BUY    DECIMAL(50, 16) NOT NULL COMMENT 'sum of price * qty, exact',
    MODIFY TOTAL_USD_SELL   DECIMAL(50, 16) NOT NULL,
    MODIFY TRADES_BUY       BIGINT          NOT NULL COMMENT 'individual trades: sum of last - first + 1',
    MODIFY TRADES_SELL      BIGINT          NOT NULL;
