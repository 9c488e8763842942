-- SQLite twin of sql/mysql/001. SQLite has no exact decimal type (a DECIMAL column would
-- turn values into floats), so decimals are TEXT written by cryptotrades, exact.
CREATE TABLE IF NOT EXISTS agg_trades (
    symbol          TEXT    NOT NULL,
    agg_id          INTEGER NOT NULL,
    price           TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    first_trade_id  INTEGER NOT NULL,
    last_trade_id   INTEGER NOT NULL,
    trade_time      INTEGER NOT NULL, -- ms since the epoch, UTC
    is_buyer_maker  INTEGER NOT NULL, -- 1: the taker sold (a SELL)
    PRIMARY KEY (symbol, agg_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agg_trades_by_time ON agg_trades (symbol, trade_time);
