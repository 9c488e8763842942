-- What the dashboards read. Average prices are volume weighted: USD / BTC, to 8 places.

CREATE OR REPLACE VIEW daily_totals AS
SELECT symbol,
       DATE(TIME)                                  AS DAY,
       SUM(TOTAL_COUNT_BUY)                        AS TOTAL_COUNT_BUY,
       SUM(TOTAL_COUNT_SELL)                       AS TOTAL_COUNT_SELL,
       SUM(TOTAL_COUNT_BUY + TOTAL_COUNT_SELL)     AS TOTAL_COUNT,
       SUM(TRADES_BUY)                             AS TRADES_BUY,
       SUM(TRADES_SELL)                            AS TRADES_SELL,
       SUM(TOTAL_BTC_BUY)                          AS TOTAL_BTC_BUY,
       SUM(TOTAL_BTC_SELL)                         AS TOTAL_BTC_SELL,
       SUM(TOTAL_USD_BUY)                          AS TOTAL_USD_BUY,
       SUM(TOTAL_USD_SELL)                         AS TOTAL_USD_SELL,
       ROUND(SUM(TOTAL_USD_BUY) / NULLIF(SUM(TOTAL_BTC_BUY), 0), 8)   AS AVG_PRICE_BUY,
       ROUND(SUM(TOTAL_USD_SELL) / NULLIF(SUM(TOTAL_BTC_SELL), 0), 8) AS AVG_PRICE_SELL,
       COUNT(*)                                    AS MINUTES
FROM trade_minutes
GROUP BY symbol, DATE(TIME);

CREATE OR REPLACE VIEW minute_prices AS
SELECT symbol,
       TIME,
       ROUND(TOTAL_USD_BUY / NULLIF(TOTAL_BTC_BUY, 0), 8)   AS AVG_PRICE_BUY,
       ROUND(TOTAL_USD_SELL / NULLIF(TOTAL_BTC_SELL, 0), 8) AS AVG_PRICE_SELL
FROM trade_minutes;

-- The running sum covers the 30 minutes ending at this one (a RANGE frame, so a minute
-- without trades shortens the sum instead of reaching further back).
CREATE OR REPLACE VIEW minute_spread AS
SELECT symbol,
       TIME,
       TOTAL_USD_BUY,
       TOTAL_USD_SELL,
       TOTAL_USD_BUY - TOTAL_USD_SELL AS USD_SPREAD,
       SUM(TOTAL_USD_BUY - TOTAL_USD_SELL) OVER (
           PARTITION BY symbol
           ORDER BY TIMESTAMPDIFF(MINUTE, '1970-01-01 00:00:00', TIME)
           RANGE BETWEEN 29 PRECEDING AND CURRENT ROW
       ) AS USD_SPREAD_30M
FROM trade_minutes;

-- The original project's reading of the flag: m = true (the buyer was the maker) counted
-- as a BUY. Same rows, sides swapped; for comparing with numbers from the original.
CREATE OR REPLACE VIEW trade_minutes_maker_side AS
SELECT symbol,
       TIME,
       TOTAL_COUNT_SELL AS TOTAL_COUNT_BUY,
       TOTAL_COUNT_BUY  AS TOTAL_COUNT_SELL,
       TOTAL_BTC_SELL   AS TOTAL_BTC_BUY,
       TOTAL_BTC_BUY    AS TOTAL_BTC_SELL,
       TOTAL_USD_SELL   AS TOTAL_USD_BUY,
       TOTAL_USD_BUY    AS TOTAL_USD_SELL
FROM trade_minutes;
