"""The bulk engine: minute rows of whole trade files at columnar speed, equal to the pure core's.

``minute_rows(read_trades(path).trades)`` (the reference: ``binance.parse`` + ``minutes.aggregate``)
holds every trade as a Python object; a day of BTC/USDT is two million of them. This engine reads
the same files in blocks of lines and gives exactly the same rows, the same rejected lines and the
same reasons, in bounded memory, because of how it splits the work:

- **Only the reference decides what a trade is.** A block of a public-data CSV file is split into
  columns by Arrow; a row goes the fast way only if every field is in Binance's own canonical
  spelling (digits without sign, space or leading zero) *and* each distinct price, quantity,
  side, flag and symbol of the block was accepted by the reference parser itself, in a template
  row. Every other row, and every block that looks unusual (non-ASCII, ``\\r``, blank lines, a
  column count the file did not start with), is parsed line by line by the reference, which gives
  the trade or the reason. Captured streams (ndjson) are parsed by the reference throughout.
- **Exact integers, never a rounding type.** Prices and quantities become integers scaled by
  10^8 (``DECIMAL_PLACES`` of ``binance.contract``). DuckDB sums each block per (symbol, minute, side) in
  HUGEINT (128-bit, overflow raises), Python adds the blocks' sums in unbounded ints. Bound: a block
  holds at most 2^20 rows and a fast row has price x quantity < 10^16 USD, so a block's sum of
  scaled products is below 2^20 * 10^32 < 2^127; quantities below 2^63 sum below 2^83. Across blocks
  nothing can overflow, so a day, a month or a year of one file is exact.
- **Duplicates and order.** The pure core keeps the first line of each (symbol, minute, agg id). When
  agg ids rise strictly through the whole input (every Binance file), there is nothing to drop and
  blocks are summed independently. Otherwise the engine starts over in its general mode: every
  accepted row, with its position, goes into a DuckDB table (which spills to disk), and one query
  keeps each id's first row before grouping.
- A trade the reference accepts beyond the fast domain (a price or quantity of 9.2 * 10^10 or more,
  or a notional of 10^16 USD) is never approximated: the whole input is then computed by the pure
  core.

DuckDB and pyarrow are imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from binance.contract import DECIMAL_PLACES as PLACES
from binance.contract import EARLIEST_TRADE_MS, FUTURE_TOLERANCE_MS, MICROSECONDS_FROM
from binance.errors import BadLineError, UnreadableFileError
from binance.events import MINUTE_MS, AggTrade
from binance.files import (
    ZIP_ERRORS,
    ReadLimits,
    Rejected,
    bounded_line,
    corrupt_zip,
    describe_file_name,
    parse_csv_lines,
    parse_lines,
    read_trades,
    refuse_coin_margined,
    refuse_kline_file,
)
from binance.parse import UTF8_BOM, parse_csv_row
from minutes.aggregate import MinuteRow, minute_rows

logger = logging.getLogger(__name__)

SCALE = 10**PLACES
_MAX_LINE = ReadLimits().max_line  # the reference's: a longer line is a rejected line
BLOCK_BYTES = 16 * 1024 * 1024
MAX_BLOCK_ROWS = 2**20  # the overflow bound above counts on it
_DAY_MS = 86_400_000
# The fast path's own bounds, each inside what the reference accepts (the reference still decides
# for every row outside them): ids of at most 18 digits (< 2^63), at most 10,000 trades in one
# aggregate trade, trade times from 2017-07-01 to a day after the run started.
_ID_DIGITS = 18
_FAST_MAX_TRADES = 10_000
_FAST_TIME_FROM_MS = EARLIEST_TRADE_MS
_INT64_MAX = 2**63 - 1
_FAST_MAX_NOTIONAL_SCALED = 0.99e32  # price * qty scaled by 10^16, as a float: 10^16 USD with margin
# The smallest value of a canonical integer of k digits is 10^(k-1) (0 for one digit).
_SMALLEST_OF_LENGTH = [0, 0] + [10 ** (k - 1) for k in range(2, 19)]
_SPOT_COLUMNS = ("a", "p", "q", "f", "l", "T", "m", "b")
_TEMPLATE = ["1", "1.00000000", "1.00000000", "1", "1", "1577836800000", "True", "True"]

ProgressCallback = Callable[[int], None]  # bytes of input consumed since the last call


@dataclass(frozen=True, slots=True)
class SourceReject:
    """A rejected line and the file it came from."""

    source: str
    rejected: Rejected


@dataclass(slots=True)
class BulkResult:
    """What the engine made of the inputs: the rows, every rejected line, and counts."""

    rows: list[MinuteRow]
    rejects: list[SourceReject] = field(default_factory=list)
    lines: int = 0  # lines that held something (blank lines and a CSV header are not counted)
    accepted: int = 0  # lines that are valid trades, repeats included
    reference_lines: int = 0  # lines the reference parsed one by one (not the fast path)
    mode: str = "ordered"  # "ordered", "general" (repeats or disorder) or "reference" (pure core)


# -- public entry points -------------------------------------------------------------


def aggregate_files(
    paths: Sequence[str | Path],
    symbol: str | None = None,
    *,
    now_ms: int | None = None,
    progress: ProgressCallback | None = None,
) -> BulkResult:
    """Minute rows of the given files taken together, as ``minute_rows`` of all their trades.

    ``symbol`` names the market of CSV files whose name does not (as in ``read_trades``).
    ``progress`` is called with the number of input bytes consumed, for a progress bar.
    Raises `UnreadableFileError` (or `OSError`) for a file that cannot be read at all.
    """
    import duckdb

    now = int(time.time() * 1000) if now_ms is None else now_ms
    plans = [_plan(Path(path), symbol) for path in paths]
    try:
        try:
            return _run(plans, now, progress, general=False)
        except _Disorder:
            logger.info("agg ids repeat or go back: summing again with duplicates removed")
            return _run(plans, now, None, general=True)
    except (_Exotic, duckdb.OutOfRangeException) as exc:
        logger.warning("%s: beyond the fast path's bounds; the pure core computes these files", exc)
        return _reference(plans)


# -- reading -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    path: Path
    kind: str  # "csv", "ndjson" or "empty" (nothing but blank lines)
    symbol: str | None  # CSV only


class _Disorder(Exception):  # control flow, never leaves this module
    """Agg ids do not rise strictly: the ordered mode cannot be exact."""


class _Exotic(Exception):  # control flow, never leaves this module
    """A valid trade lies outside the fast domain."""


def _plan(path: Path, symbol: str | None) -> _Plan:
    """What ``read_trades`` would make of the file: its format and, for CSV, its symbol."""
    first = b""
    with _members(path) as members:
        for _, stream in members:
            for line in stream:
                if line.strip():
                    first = line
                    break
            if first:
                break
    if not first:
        return _Plan(path, "empty", None)
    if first.lstrip().startswith(b"{"):
        return _Plan(path, "ndjson", None)
    if symbol is None:
        named = describe_file_name(path)
        if named is None:
            raise UnreadableFileError(
                f"{path}: cannot tell the symbol of a CSV file named {path.name!r}; "
                "name it like BTCUSDT-aggTrades-2026-01-01.csv or pass --symbol"
            )
        symbol = named.symbol
    refuse_coin_margined(symbol.upper(), path)
    refuse_kline_file(first, path)
    return _Plan(path, "csv", symbol.upper())


@contextlib.contextmanager
def _members(path: Path) -> Iterator[Iterator[tuple[str, IO[bytes]]]]:
    """The byte streams of a plain, gzip or zip file (each zip member, in order), never extracted."""
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                infos = [info for info in archive.infolist() if not info.is_dir()]
                if not infos:
                    raise UnreadableFileError(f"{path}: the zip archive is empty")

                def opened() -> Iterator[tuple[str, IO[bytes]]]:
                    for info in infos:
                        with archive.open(info) as stream:
                            yield info.filename, stream

                yield opened()
        except ZIP_ERRORS as exc:
            raise corrupt_zip(path, exc) from None
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            yield iter([(path.name, stream)])
    else:
        with path.open("rb") as stream:
            yield iter([(path.name, stream)])


@dataclass(slots=True)
class _Block:
    data: bytes  # whole lines, each ending in b"\n"
    first_line: int  # number of its first line in the file (1-based, as the reference counts)
    lines: int


def _blocks(path: Path, progress: ProgressCallback | None) -> Iterator[_Block]:
    """The file's lines in blocks of at most BLOCK_BYTES and MAX_BLOCK_ROWS lines.

    Line numbers run on across zip members, as ``binance.files.iter_lines`` reads them; a
    member's last line without a newline is a line of its own.
    """
    number = 1
    with _members(path) as members:
        for _, stream in members:
            rest = b""
            while True:
                chunk = stream.read(BLOCK_BYTES)
                if progress is not None and chunk:
                    progress(len(chunk))
                if not chunk:
                    if rest:
                        yield _Block(rest + b"\n", number, 1)
                        number += 1
                    break
                cut = chunk.rfind(b"\n") + 1
                if not cut:  # no line ends in this chunk: keep reading
                    rest += chunk
                    continue
                data = rest + chunk[:cut] if rest else chunk[:cut] if cut < len(chunk) else chunk
                rest = chunk[cut:]
                for piece, count in _split_rows(data):
                    yield _Block(piece, number, count)
                    number += count


def _split_rows(data: bytes) -> Iterator[tuple[bytes, int]]:
    """``data`` in pieces of at most MAX_BLOCK_ROWS lines, with their line counts."""
    count = data.count(b"\n")
    if count <= MAX_BLOCK_ROWS:
        yield data, count
        return
    start = 0
    while count > 0:
        end = start
        taken = min(count, MAX_BLOCK_ROWS)
        for _ in range(taken):
            end = data.find(b"\n", end) + 1
        yield data[start:end], taken
        start, count = end, count - taken


# -- one block -> columns ------------------------------------------------------------


@dataclass(slots=True)
class _Columns:
    """A block's accepted trades in line order, as arrays (numpy) ready for DuckDB."""

    symbols: list[str]  # one per row, or a single symbol for the whole block
    agg_id: Any
    price: Any  # int64, scaled by 10^8
    qty: Any
    trades: Any  # last - first + 1
    minute: Any  # ms
    maker: Any  # bool: m, true = the taker sold

    def __len__(self) -> int:
        return len(self.agg_id)


class _Validator:
    """Distinct field values, each judged once by the reference parser in a template row.

    A value the reference accepts in the template is accepted in any row: its rules for one
    field do not look at the others (the cross-field rules are checked on the columns).
    """

    def __init__(self, symbol: str, now_ms: int) -> None:
        self.symbol = symbol
        self.now_ms = now_ms
        self._seen: dict[int, dict[str, Any]] = {column: {} for column in range(len(_TEMPLATE))}
        self.symbol_ok = self._judge(-1, symbol) is not None

    def values(self, column: int, texts: list[str]) -> list[Any]:
        """The judgement of each text: its value (scaled int, bool, True) or None if refused."""
        seen = self._seen[column]
        out = []
        for text in texts:
            if text not in seen:
                seen[text] = self._judge(column, text)
            out.append(seen[text])
        return out

    def _judge(self, column: int, text: str) -> Any:
        fields = list(_TEMPLATE)
        symbol = self.symbol
        if column == -1:
            symbol = text
        else:
            fields[column] = text
        try:
            trade = parse_csv_row(fields, symbol, now=self.now_ms)
        except BadLineError:
            return None
        if column in (1, 2):
            value = trade.price if column == 1 else trade.qty
            scaled = value.scaleb(PLACES)
            if scaled != scaled.to_integral_value() or not 0 < scaled <= _INT64_MAX:
                return None  # outside the fast domain: this row goes to the reference
            return int(scaled)
        if column == 6:
            return trade.is_buyer_maker
        return True


def _csv_block(
    block: _Block, layout: int, validator: _Validator, now_ms: int, source: str, out: _Sink
) -> _Columns | None:
    """The fast path for a CSV block, or None when the block must go to the reference whole."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    data = block.data
    if not validator.symbol_ok or not data.isascii() or b"\r" in data:
        return None
    names = _SPOT_COLUMNS[:layout]
    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            pcsv.ReadOptions(column_names=list(names), use_threads=False, block_size=len(data) + 1),
            pcsv.ParseOptions(
                quote_char=False, double_quote=False, escape_char=False, ignore_empty_lines=True
            ),
            pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if table.num_rows != block.lines:  # Arrow skipped blank lines: the reference counts them
        return None

    def integers(name: str, digits: int) -> tuple[Any, Any]:
        # Canonical: digits only, no leading zero, at most ``digits`` of them.
        text = table[name].combine_chunks()
        length = pc.binary_length(text).to_numpy()
        good = pc.ascii_is_decimal(text).to_numpy(zero_copy_only=False) & (length <= digits)
        if not good.all():
            text = pc.if_else(good, text, "0")
        values = pc.cast(text, pa.int64()).to_numpy()
        smallest = np.array(_SMALLEST_OF_LENGTH, dtype=np.int64)[np.clip(length, 0, 18)]
        good &= values >= smallest  # fewer digits than characters: a leading zero
        return good, values

    good_a, agg_id = integers("a", _ID_DIGITS)
    good_f, first = integers("f", _ID_DIGITS)
    good_l, last = integers("l", _ID_DIGITS)
    good_t, stamp = integers("T", 17)
    ok = good_a & good_f & good_l & good_t

    def distinct(name: str, column: int, dtype: Any, missing: Any) -> Any:
        encoded = pc.dictionary_encode(table[name]).combine_chunks()
        judged = validator.values(column, encoded.dictionary.to_pylist())
        lookup = np.array([missing if v is None else v for v in judged], dtype=dtype)
        indices = encoded.indices.to_numpy()
        if all(v is not None for v in judged):
            return lookup[indices], True
        return lookup[indices], np.array([v is not None for v in judged], dtype=bool)[indices]

    price, good_p = distinct("p", 1, np.int64, 0)
    qty, good_q = distinct("q", 2, np.int64, 0)
    maker, good_m = distinct("m", 6, np.bool_, False)
    ok &= good_p & good_q & good_m
    if layout == 8:  # the flag the reference ignores today: only its few distinct spellings are judged
        flags = pc.unique(table["b"]).to_pylist()
        if not all(v is not None for v in validator.values(7, flags)):
            _, good_b = distinct("b", 7, np.bool_, False)
            ok &= good_b

    millis = np.where(stamp >= MICROSECONDS_FROM, stamp // 1000, stamp)
    trades = last - first + 1
    ok &= (first <= last) & (trades <= _FAST_MAX_TRADES)
    ok &= (millis >= _FAST_TIME_FROM_MS) & (millis <= now_ms + FUTURE_TOLERANCE_MS)
    ok &= price.astype(np.float64) * qty.astype(np.float64) < _FAST_MAX_NOTIONAL_SCALED

    keep = ok.copy()
    slow = np.flatnonzero(~ok)
    if len(slow):
        agg_id, price, qty, first, last, millis, maker = (
            column.copy() for column in (agg_id, price, qty, first, last, millis, maker)
        )
        columns = [table[name] for name in names]
        for index in slow.tolist():
            fields = [column[index].as_py() for column in columns]
            trade = out.reference_row(fields, validator.symbol, block.first_line + index, source)
            if trade is None:
                continue
            _require_fast(trade, source, block.first_line + index)
            keep[index] = True
            agg_id[index], price[index], qty[index] = trade.agg_id, _scaled(trade.price), _scaled(trade.qty)
            first[index], last[index] = trade.first_trade_id, trade.last_trade_id
            millis[index], maker[index] = trade.trade_time, trade.is_buyer_maker
        trades = last - first + 1
    out.accepted += int(keep.sum())
    out.lines += block.lines
    if not keep.all():
        agg_id, price, qty, trades, millis, maker = (
            column[keep] for column in (agg_id, price, qty, trades, millis, maker)
        )
    return _Columns([validator.symbol], agg_id, price, qty, trades, millis - millis % MINUTE_MS, maker)


def _scaled(value: Decimal) -> int:
    return int(value.scaleb(PLACES))


def _require_fast(trade: AggTrade, source: str, line: int) -> None:
    price, qty = _scaled(trade.price), _scaled(trade.qty)
    if not (
        0 < price <= _INT64_MAX
        and 0 < qty <= _INT64_MAX
        and price * qty < 10**32
        and trade.agg_id <= _INT64_MAX
        and trade.last_trade_id - trade.first_trade_id < 2**62
    ):
        raise _Exotic(f"{source}:{line}: agg id {trade.agg_id}")


def _columns_of(trades: list[AggTrade], source: str, lines: list[int]) -> _Columns:
    import numpy as np

    for trade, line in zip(trades, lines, strict=True):
        _require_fast(trade, source, line)
    count = len(trades)
    millis = np.fromiter((t.trade_time for t in trades), np.int64, count)
    return _Columns(
        [t.symbol for t in trades],
        np.fromiter((t.agg_id for t in trades), np.int64, count),
        np.fromiter((_scaled(t.price) for t in trades), np.int64, count),
        np.fromiter((_scaled(t.qty) for t in trades), np.int64, count),
        np.fromiter((t.last_trade_id - t.first_trade_id + 1 for t in trades), np.int64, count),
        millis - millis % MINUTE_MS,
        np.fromiter((t.is_buyer_maker for t in trades), np.bool_, count),
    )


# -- the reference, line by line -----------------------------------------------------


class _Sink:
    """Counts and rejects of one run; the reference reads each line it judges, with the line
    numbers running on across blocks (``binance.files`` does the reading, so rejects and
    reasons are the reference's)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.rejects: list[SourceReject] = []
        self.lines = 0
        self.accepted = 0
        self.reference_lines = 0

    def reference_row(self, fields: list[str], symbol: str, number: int, source: str) -> AggTrade | None:
        self.reference_lines += 1
        try:
            return parse_csv_row(fields, symbol, now=self.now_ms)
        except BadLineError as exc:
            self.rejects.append(SourceReject(source, Rejected(number, str(exc), ",".join(fields))))
            return None

    def reference_block(self, plan: _Plan, block: _Block, source: str) -> _Columns:
        """Every line of the block as ``binance.files`` reads it (blank lines, header, reasons)."""
        lines = [bounded_line(line, _MAX_LINE) for line in block.data.split(b"\n")[: block.lines]]
        if plan.kind == "ndjson":
            parsed = parse_lines(lines, source, first_line=block.first_line, now=self.now_ms)
        else:
            parsed = parse_csv_lines(
                lines, plan.symbol or "", source, first_line=block.first_line, now=self.now_ms
            )
        self.rejects.extend(SourceReject(source, reject) for reject in parsed.rejects)
        self.lines += parsed.lines
        self.accepted += len(parsed.trades)
        self.reference_lines += parsed.lines
        # Positions in file order (only the order matters, and where an exotic trade is named).
        positions = list(range(block.first_line, block.first_line + len(parsed.trades)))
        return _columns_of(parsed.trades, source, positions)


# -- summing -------------------------------------------------------------------------

_PARTIALS = """
SELECT {symbol} AS symbol, minute, maker, count(*) AS n, sum(qty) AS qty, sum(price::HUGEINT * qty) AS usd,
       sum(trades) AS trades, min(price) AS low, max(price) AS high,
       arg_min(price, agg_id) AS open, arg_max(price, agg_id) AS close,
       min(agg_id) AS first_id, max(agg_id) AS last_id
FROM {source}
GROUP BY ALL
"""
_DEDUPLICATED = """
(SELECT symbol, minute, agg_id, arg_min(price, seq) AS price, arg_min(qty, seq) AS qty,
        arg_min(trades, seq) AS trades, arg_min(maker, seq) AS maker
 FROM held GROUP BY symbol, minute, agg_id)
"""


@dataclass(slots=True)
class _Minute:
    """Sums of one (symbol, minute) so far, in unbounded Python ints (scaled)."""

    count: list[int] = field(default_factory=lambda: [0, 0])  # [buy, sell]
    qty: list[int] = field(default_factory=lambda: [0, 0])
    usd: list[int] = field(default_factory=lambda: [0, 0])
    trades: list[int] = field(default_factory=lambda: [0, 0])
    low: int | None = None
    high: int | None = None
    first: tuple[int, int] | None = None  # (agg id, price)
    last: tuple[int, int] | None = None


class _Summer:
    """Adds partial sums per (symbol, minute) from DuckDB, in either mode."""

    def __init__(self, general: bool) -> None:
        import duckdb

        self.general = general
        self.connection = duckdb.connect()
        self.connection.execute("SET threads = 1")
        self.minutes: dict[tuple[str, int], _Minute] = {}
        self.last_id: dict[str, int] = {}
        self.seq = 0
        if general:
            self.connection.execute(
                "CREATE TABLE held (seq BIGINT, symbol VARCHAR, minute BIGINT, agg_id BIGINT,"
                " price BIGINT, qty BIGINT, trades BIGINT, maker BOOLEAN)"
            )

    def add(self, columns: _Columns) -> None:
        import numpy as np
        import pyarrow as pa

        count = len(columns)
        if not count:
            return
        if len(columns.symbols) == 1:
            symbols: Any = pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(count, dtype=np.int32)), pa.array(columns.symbols)
            )
        else:
            symbols = pa.array(columns.symbols, pa.string()).dictionary_encode()
        block = pa.table(
            {
                "minute": columns.minute,
                "agg_id": columns.agg_id,
                "price": columns.price,
                "qty": columns.qty,
                "trades": columns.trades,
                "maker": columns.maker,
            }
        )
        if self.general:
            positions = pa.array(np.arange(self.seq, self.seq + count, dtype=np.int64))
            held = block.append_column("symbol", symbols).append_column("seq", positions)
            self.seq += count
            self.connection.register("incoming", held)
            self.connection.execute(
                "INSERT INTO held SELECT seq, symbol::VARCHAR, minute, agg_id, price, qty, trades, maker"
                " FROM incoming"
            )
            self.connection.unregister("incoming")
            return
        self._check_order(columns)  # one symbol, ids rising: nothing to drop
        self.connection.register("block", block)
        query = _PARTIALS.format(symbol="?", source="block")
        self._merge(self.connection.execute(query, [columns.symbols[0]]).fetchall())
        self.connection.unregister("block")

    def _check_order(self, columns: _Columns) -> None:
        import numpy as np

        if len(set(columns.symbols)) != 1:
            raise _Disorder
        symbol = columns.symbols[0]
        ids = columns.agg_id
        before = self.last_id.get(symbol)
        if before is not None and ids[0] <= before:
            raise _Disorder
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise _Disorder
        self.last_id[symbol] = int(ids[-1])

    def _merge(self, partials: Iterable[tuple[Any, ...]]) -> None:
        for symbol, minute, maker, n, qty, usd, trades, low, high, open_, close, first, last in partials:
            row = self.minutes.setdefault((symbol, int(minute)), _Minute())
            side = 1 if maker else 0
            row.count[side] += int(n)
            row.qty[side] += int(qty)
            row.usd[side] += int(usd)
            row.trades[side] += int(trades)
            row.low = int(low) if row.low is None else min(row.low, int(low))
            row.high = int(high) if row.high is None else max(row.high, int(high))
            if row.first is None or first < row.first[0]:
                row.first = (int(first), int(open_))
            if row.last is None or last > row.last[0]:
                row.last = (int(last), int(close))

    def rows(self) -> list[MinuteRow]:
        if self.general:
            query = _PARTIALS.format(symbol="symbol", source=_DEDUPLICATED)
            self._merge(self.connection.execute(query).fetchall())
        self.connection.close()
        out = []
        for (symbol, minute), row in sorted(self.minutes.items()):
            assert row.first is not None and row.last is not None and row.low is not None
            assert row.high is not None
            out.append(
                MinuteRow(
                    symbol=symbol,
                    minute=minute,
                    count_buy=row.count[0],
                    count_sell=row.count[1],
                    btc_buy=_decimal(row.qty[0], PLACES),
                    btc_sell=_decimal(row.qty[1], PLACES),
                    usd_buy=_decimal(row.usd[0], 2 * PLACES),
                    usd_sell=_decimal(row.usd[1], 2 * PLACES),
                    trades_buy=row.trades[0],
                    trades_sell=row.trades[1],
                    open=_decimal(row.first[1], PLACES),
                    high=_decimal(row.high, PLACES),
                    low=_decimal(row.low, PLACES),
                    close=_decimal(row.last[1], PLACES),
                    first_agg_id=row.first[0],
                    last_agg_id=row.last[0],
                )
            )
        return out


def _decimal(scaled: int, places: int) -> Decimal:
    return Decimal(scaled).scaleb(-places)


# -- the run -------------------------------------------------------------------------


def _run(plans: list[_Plan], now_ms: int, progress: ProgressCallback | None, *, general: bool) -> BulkResult:
    summer = _Summer(general)
    sink = _Sink(now_ms)
    try:
        for plan in plans:
            if plan.kind == "empty":
                continue
            source = str(plan.path)
            validator = _Validator(plan.symbol, now_ms) if plan.kind == "csv" and plan.symbol else None
            layout = 0
            for block in _blocks(plan.path, progress):
                columns = None
                if validator is not None:
                    if block.first_line == 1:
                        block = _without_header(block, sink)
                        layout = _layout(block)
                    if layout:
                        columns = _csv_block(block, layout, validator, now_ms, source, sink)
                if columns is None:
                    columns = sink.reference_block(plan, block, source)
                summer.add(columns)
        rows = summer.rows()
    except BaseException:
        with contextlib.suppress(Exception):
            summer.connection.close()
        raise
    return BulkResult(
        rows=rows,
        rejects=sink.rejects,
        lines=sink.lines,
        accepted=sink.accepted,
        reference_lines=sink.reference_lines,
        mode="general" if general else "ordered",
    )


def _without_header(block: _Block, sink: _Sink) -> _Block:
    """Binance's newer files start with a header line; the reference skips it on line 1 only
    (after a byte-order mark at the very start, as ``binance.files`` does)."""
    end = block.data.find(b"\n") + 1
    first = block.data[:end].removeprefix(UTF8_BOM).decode("utf-8", "replace").rstrip("\r\n")
    if first.split(",")[0] != "agg_trade_id":
        return block
    return _Block(block.data[end:], block.first_line + 1, block.lines - 1)


def _layout(block: _Block) -> int:
    """Columns of the first line: 8 (spot) or 7 (futures); 0 when it is neither."""
    end = block.data.find(b"\n")
    columns = block.data[: end if end >= 0 else len(block.data)].count(b",") + 1
    return columns if columns in (7, 8) else 0


def _reference(plans: list[_Plan]) -> BulkResult:
    """The pure core over everything: for inputs holding trades beyond the fast domain."""
    trades: list[AggTrade] = []
    result = BulkResult(rows=[], mode="reference")
    for plan in plans:
        if plan.kind == "empty":
            continue
        parsed = read_trades(plan.path, plan.symbol)
        trades.extend(parsed.trades)
        result.rejects.extend(SourceReject(parsed.source, reject) for reject in parsed.rejects)
        result.lines += parsed.lines
        result.accepted += len(parsed.trades)
        result.reference_lines += parsed.lines
    result.rows = minute_rows(trades)
    return result
