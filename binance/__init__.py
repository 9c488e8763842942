"""The Binance contract: the aggTrade event, its parsers and readers of Binance's files.

No I/O policy and no Kafka here: producers, the aggregator and the one-box runner all
read Binance's data through this package and nothing else.
"""
