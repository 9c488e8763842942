"""The bulk engine: minute rows of whole trade files at columnar speed (DuckDB, Arrow).

Used by ``cryptotrades aggregate`` and ``backfill``; never by the Lambda, whose bundle holds
``minutes`` (the pure core, the reference) but not this package or its heavy dependencies.
"""
