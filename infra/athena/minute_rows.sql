-- Minute rows from the raw objects under trades/ (Athena, Trino SQL), exactly as the pure core
-- computes them: each (symbol, minute, agg id) counted once, BUY when the taker bought (m false),
-- sums in exact DECIMAL (Trino raises on overflow rather than round), OHLC by agg id.
-- Change the date range in the WHERE clause: it selects the partitions Athena reads.
WITH trades AS (
    SELECT symbol,
           agg_id,
           trade_time - trade_time % 60000 AS minute_ms,
           CAST(price AS DECIMAL(20, 8)) AS price,
           CAST(qty AS DECIMAL(20, 8)) AS qty,
           last_trade_id - first_trade_id + 1 AS trades,
           is_buyer_maker
    FROM cryptotrades_history.trades
    WHERE "date" BETWEEN '2026-01-01' AND '2026-01-01'
      AND event_type = 'aggTrade'
),
distinct_trades AS (
    SELECT symbol, minute_ms, agg_id,
           min(price) AS price, min(qty) AS qty, min(trades) AS trades,
           bool_and(is_buyer_maker) AS is_buyer_maker
    FROM trades
    GROUP BY symbol, minute_ms, agg_id
)
SELECT symbol,
       minute_ms,
       count_if(NOT is_buyer_maker) AS count_buy,
       count_if(is_buyer_maker) AS count_sell,
       coalesce(sum(CASE WHEN NOT is_buyer_maker THEN qty END), 0) AS btc_buy,
       coalesce(sum(CASE WHEN is_buyer_maker THEN qty END), 0) AS btc_sell,
       coalesce(sum(CASE WHEN NOT is_buyer_maker THEN price * qty END), 0) AS usd_buy,
       coalesce(sum(CASE WHEN is_buyer_maker THEN price * qty END), 0) AS usd_sell,
       coalesce(sum(CASE WHEN NOT is_buyer_maker THEN trades END), 0) AS trades_buy,
       coalesce(sum(CASE WHEN is_buyer_maker THEN trades END), 0) AS trades_sell,
       min_by(price, agg_id) AS price_open,
       max(price) AS price_high,
       min(price) AS price_low,
       max_by(price, agg_id) AS price_close,
       min(agg_id) AS first_agg_id,
       max(agg_id) AS last_agg_id
FROM distinct_trades
GROUP BY symbol, minute_ms
ORDER BY symbol, minute_ms
