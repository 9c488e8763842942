"""The Lambda only: the S3-event handler, its settings and the schema custom resource.

The work itself is done by ``minutes`` (core and store) and ``binance`` (the trade contract).
"""
