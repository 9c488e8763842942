-- Every aggregate trade seen, once: the primary key is what makes replays harmless.
CREATE TABLE IF NOT EXISTS agg_trades (
    symbol          VARCHAR(20)    NOT NULL,
    agg_id          BIGINT         NOT NULL,
    price           DECIMAL(20, 8) NOT NULL,
    qty             DECIMAL(20, 8) NOT NULL,
    first_trade_id  BIGINT         NOT NULL,
    last_trade_id   BIGINT         NOT NULL,
    trade_time      BIGINT         NOT NULL COMMENT 'ms since the epoch, UTC',
    is_buyer_maker  BOOLEAN        NOT NULL COMMENT 'true: the taker sold (a SELL)',
    PRIMARY KEY (symbol, agg_id),
    KEY agg_trades_by_time (symbol, trade_time)
) ENGINE = InnoDB;
