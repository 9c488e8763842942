"""The producer: Binance's aggTrade WebSocket stream into Kafka, losing nothing.

Entry points: ``python -m producer`` and ``cryptotrades produce`` (`producer.command`); the
in-process API for the one-box pipeline is `producer.service.run` and
`producer.service.ProducerThread`, configured by `producer.settings.ProducerSettings`.
"""
