"""The minute rows and their database: the pure aggregation core, the store (MySQL of record,
SQLite for the one-box), the migrations of ``sql/`` and the comparison with Binance's klines.

Used by the Lambda, the CLI, the dashboard and the one-box; it knows nothing of any of them.
"""
