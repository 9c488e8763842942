-- SQLite twin of sql/mysql/004. Decimals are TEXT here, so sums and quotients use
-- decimal_sum / decimal_sub / decimal_div, exact functions that cryptotrades registers on
-- every connection it opens (lambda_aggregator/sqlite_functions.py). Another SQLite client
-- can read the tables, but not these views.

DROP VIEW IF EXISTS daily_totals;
CREATE VIEW daily_totals AS
SELECT symbol,
       date(TIME)                                   AS DAY,
       SUM(TOTAL_COUNT_BUY)                         AS TOTAL_COUNT_BUY,
       SUM(TOTAL_COUNT_SELL)                        AS TOTAL_COUNT_SELL,
       SUM(TOTAL_COUNT_BUY + TOTAL_COUNT_SELL)      AS TOTAL_COUNT,
       SUM(TRADES_BUY)                              AS TRADES_BUY,
       SUM(TRADES_SELL)                             AS TRADES_SELL,
       decimal_sum(TOTAL_BTC_BUY)                   AS TOTAL_BTC_BUY,
       decimal_sum(TOTAL_BTC_SELL)                  AS TOTAL_BTC_SELL,
       decimal_sum(TOTAL_USD_BUY)                   AS TOTAL_USD_BUY,
       decimal_sum(TOTAL_USD_SELL)                  AS TOTAL_USD_SELL,
       decimal_div(decimal_sum(TOTAL_USD_BUY), decimal_sum(TOTAL_BTC_BUY), 8)   AS AVG_PRICE_BUY,
       decimal_div(decimal_sum(TOTAL_USD_SELL), decimal_sum(TOTAL_BTC_SELL), 8) AS AVG_PRICE_SELL,
       COUNT(*)                                     AS MINUTES
FROM trade_minutes
GROUP BY symbol, date(TIME);

DROP VIEW IF EXISTS minute_prices;
CREATE VIEW minute_prices AS
SELECT symbol,
       TIME,
       decimal_div(TOTAL_USD_BUY, TOTAL_BTC_BUY, 8)   AS AVG_PRICE_BUY,
       decimal_div(TOTAL_USD_SELL, TOTAL_BTC_SELL, 8) AS AVG_PRICE_SELL
FROM trade_minutes;

DROP VIEW IF EXISTS minute_spread;
CREATE VIEW minute_spread AS
SELECT symbol,
       TIME,
       TOTAL_USD_BUY,
       TOTAL_USD_SELL,
       decimal_sub(TOTAL_USD_BUY, TOTAL_USD_SELL) AS USD_SPREAD,
       decimal_sum(decimal_sub(TOTAL_USD_BUY, TOTAL_USD_SELL)) OVER (
           PARTITION BY symbol
           ORDER BY CAST(strftime('%s', TIME) AS INTEGER) / 60
           RANGE BETWEEN 29 PRECEDING AND CURRENT ROW
       ) AS USD_SPREAD_30M
FROM trade_minutes;

DROP VIEW IF EXISTS trade_minutes_maker_side;
CREATE VIEW trade_minutes_maker_side AS
SELECT symbol,
       TIME,
       TOTAL_COUNT_SELL AS TOTAL_COUNT_BUY,
       TOTAL_COUNT_BUY  AS TOTAL_COUNT_SELL,
       TOTAL_BTC_SELL   AS TOTAL_BTC_BUY,
       TOTAL_BTC_BUY    AS TOTAL_BTC_SELL,
       TOTAL_USD_SELL   AS TOTAL_USD_BUY,
       TOTAL_USD_BUY    AS TOTAL_USD_SELL
FROM trade_minutes;
