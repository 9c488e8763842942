"""The aggregate trade, as Binance publishes it and as the rest of the pipeline uses it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from binance.contract import EARLIEST_TRADE_MS, ID_LIMIT

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


class AggTrade(msgspec.Struct, frozen=True, gc=False):
    """One aggregate trade: the fills of one taker order at one price.

    Example wire event (``btcusdt@aggTrade``)::

        {"e":"aggTrade","E":1767225600040,"s":"BTCUSDT","a":3800397495,"p":"87648.21000000",
         "q":"0.08185000","f":5723703861,"l":5723703861,"T":1767225600039,"m":true,"M":true}

    ``is_buyer_maker`` (``m``) true means the resting order was the buy, so the taker
    sold: we count that trade as a SELL, as Binance's klines do.

    Made only by ``binance.parse``, which enforces ``binance.contract`` (and by code that
    reads back what was stored through it).
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


_Id = Annotated[int, Meta(ge=0, le=ID_LIMIT - 1)]
_Time = Annotated[int, Meta(ge=EARLIEST_TRADE_MS, le=ID_LIMIT - 1)]


class AggTradeEvent(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The wire form, for decoding only: exactly the keys Binance sends, all required.

    msgspec checks the types and the id bounds in C; ``binance.parse`` checks the rest of
    ``binance.contract`` (texts, time window, id span) and makes the `AggTrade`.
    """

    e: Literal["aggTrade"]
    E: _Id
    s: str
    a: _Id
    p: str
    q: str
    f: _Id
    l: _Id  # noqa: E741 - Binance's name
    T: _Time
    m: bool
    M: bool
