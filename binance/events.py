"""The aggregate trade, as Binance publishes it and as the rest of the pipeline uses it."""

from __future__ import annotations

from decimal import Decimal

import msgspec

MINUTE_MS = 60_000

# Binance's one-letter JSON names stop here: the model uses words, the decoder renames.
WIRE_NAMES = {
    "symbol": "s",
    "agg_id": "a",
    "price": "p",
    "qty": "q",
    "first_trade_id": "f",
    "last_trade_id": "l",
    "trade_time": "T",
    "is_buyer_maker": "m",
}


class AggTrade(msgspec.Struct, frozen=True, gc=False, rename=WIRE_NAMES, tag_field="e", tag="aggTrade"):
    """One aggregate trade: the fills of one taker order at one price.

    Example wire event (``btcusdt@aggTrade``)::

        {"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":3800397495,"p":"87648.21000000",
         "q":"0.08185000","f":5723703861,"l":5723703861,"T":1767225600039,"m":true,"M":true}

    ``is_buyer_maker`` (``m``) true means the resting order was the buy, so the taker
    sold: we count that trade as a SELL, as Binance's klines do.

    Decoding checks the event type ``e`` when present (any other type is an error) and
    ignores the fields we do not keep (``E``, ``M``).
    """

    symbol: str
    agg_id: int
    price: Decimal
    qty: Decimal
    first_trade_id: int
    last_trade_id: int
    trade_time: int  # milliseconds since the epoch, UTC
    is_buyer_maker: bool

    @property
    def is_buy(self) -> bool:
        """True when the taker bought (the aggressor side)."""
        return not self.is_buyer_maker

    @property
    def trade_count(self) -> int:
        """How many individual trades this aggregate holds (what klines call trades)."""
        return self.last_trade_id - self.first_trade_id + 1

    @property
    def minute(self) -> int:
        """Start of the trade's UTC minute, in milliseconds since the epoch."""
        return self.trade_time - self.trade_time % MINUTE_MS
