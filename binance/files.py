"""Readers for trade data at rest: captured streams and S3 objects (ndjson) and Binance
public-data CSV files.

A file may be plain, ``.gz`` or ``.zip`` (Binance's own packaging). Its format is told by
its first line: ``{`` starts newline-delimited events, anything else is an aggTrades CSV,
with or without header. CSV rows carry no symbol: it comes from Binance's file name
(``BTCUSDT-aggTrades-2026-01-01.zip``) or from the caller.

Work is bounded whatever the input: bytes are read and decompressed in pieces, a line
longer than ``ReadLimits.max_line`` is rejected without being held whole, and a stream
that decompresses to more than ``ReadLimits.max_bytes`` stops with `ObjectTooLargeError`
(`read_event_stream`, what the aggregator uses for S3 objects). A UTF-8 byte order mark
at the start of a file is skipped.
"""

from __future__ import annotations

import itertools
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from binance.errors import BadLineError, UnreadableFileError
from binance.events import AggTrade
from binance.klines import Kline, is_kline_event, parse_kline_event
from binance.parse import UTF8_BOM, now_ms, parse_csv_row, parse_event, parse_event_batch

_DATA_FILE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9_]+)-(?P<kind>aggTrades|trades|\d+[smhdwM])-(?P<period>\d{4}-\d{2}(?:-\d{2})?)"
)
_GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 1 << 20  # bytes read or decompressed at a time
_KLINE_MARK = b'"kline"'  # in a batch only when it may hold kline events (binance.klines)
_KEPT_HEAD = 1024  # bytes of an over-long line kept to show what it was


class ObjectTooLargeError(UnreadableFileError):
    """The object decompresses to more than the byte limit: rejected whole, never retried."""


class CorruptFileError(UnreadableFileError):
    """The object's compression is broken (bad header, bad data, cut short)."""


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How much one object or file may cost: decompressed bytes, bytes in a line, lines in
    all (blank ones included: a bad line costs a parse of its own, so this bounds the time),
    lines parsed (and held as trades) at a time."""

    max_bytes: int = 256 * 1024 * 1024
    max_line: int = 64 * 1024
    max_lines: int = 2_000_000
    batch_lines: int = 20_000


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line over the limit, skipped without holding it: its length and first bytes."""

    length: int
    head: bytes


# COIN-M (inverse) futures: BTCUSD_PERP, BTCUSD_250328. Their quantities are contracts (100 USD
# each for BTC), not coins, so summing them as BTC would be wrong by orders of magnitude.
_COIN_MARGINED = re.compile(r"^[A-Z0-9]+USD_(?:PERP|\d{6})$")


def refuse_coin_margined(symbol: str, where: str | Path) -> None:
    """Raise `UnreadableFileError` for a COIN-M futures market, which we cannot value yet."""
    if _COIN_MARGINED.match(symbol):
        raise UnreadableFileError(
            f"{where}: {symbol} is a COIN-M (inverse) futures market: its quantities are contracts "
            "(100 USD each for BTCUSD_PERP), not coins; cryptotrades values spot markets only and "
            "refuses the file rather than mis-value it"
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a trade, kept with why and where."""

    line: int
    reason: str
    text: str


@dataclass(slots=True)
class Parsed:
    """What one source (or one batch of its lines) held: its trades in order, its closed klines
    (event streams carry them beside the trades: kline lines), and its rejected lines."""

    source: str
    trades: list[AggTrade] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    lines: int = 0  # lines that held something (blank lines and a CSV header are not counted)
    klines: list[Kline] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FileName:
    """What Binance's public-data file name says: ``BTCUSDT-aggTrades-2026-01-01.zip``."""

    symbol: str
    kind: str  # "aggTrades", "trades", or a kline interval such as "1m"
    day: date | None  # a daily file covers this whole UTC day; None for monthly files


def describe_file_name(path: str | Path) -> FileName | None:
    """Read Binance's naming convention; None for a name that does not follow it."""
    match = _DATA_FILE_NAME.match(Path(path).name)
    if match is None:
        return None
    period = match["period"]
    day = date.fromisoformat(period) if len(period) == 10 else None
    return FileName(symbol=match["symbol"], kind=match["kind"], day=day)


def parse_ndjson(data: bytes, source: str = "<bytes>", *, now: int | None = None) -> Parsed:
    """Parse newline-delimited aggTrade events held in memory, such as a small S3 object."""
    data = data.removeprefix(UTF8_BOM)
    try:
        trades = parse_event_batch(data, now=now)  # all good: one decoder call for the whole object
    except BadLineError:
        return parse_lines(data.split(b"\n"), source, now=now)  # find each bad line and why
    return Parsed(source=source, trades=trades, lines=len(trades))


def read_event_stream(
    chunks: Iterable[bytes], source: str, limits: ReadLimits = ReadLimits(), *, now: int | None = None
) -> Iterator[Parsed]:
    """Parse an ndjson stream (plain or gzip, told by its first bytes) piece by piece.

    Yields one `Parsed` per batch of ``limits.batch_lines`` lines, line numbers counting
    from the start of the stream, so memory holds one batch, not the object. Raises
    `ObjectTooLargeError` past ``limits.max_bytes`` decompressed bytes or ``limits.max_lines``
    lines, and `CorruptFileError` for broken gzip, possibly after some batches were
    yielded: the caller decides what those batches were worth.
    """
    now = now_ms() if now is None else now
    first_line = 1
    pending: list[bytes | LineTooLong] = []
    for lines in line_batches(decompressed(chunks, limits.max_bytes), limits.max_line):
        if first_line + len(pending) + len(lines) - 1 > limits.max_lines:
            raise ObjectTooLargeError(f"more than {limits.max_lines} lines (the limit)")
        pending.extend(lines)
        while len(pending) >= limits.batch_lines:
            batch, pending = pending[: limits.batch_lines], pending[limits.batch_lines :]
            yield parse_lines(batch, source, first_line=first_line, now=now)
            first_line += len(batch)
    if pending:
        yield parse_lines(pending, source, first_line=first_line, now=now)


def parse_lines(
    lines: list[bytes | LineTooLong], source: str, *, first_line: int = 1, now: int | None = None
) -> Parsed:
    """Parse event lines (``first_line`` is the number of ``lines[0]``): one decoder call
    when all are good, else line by line, each reject with its number and reason."""
    now = now_ms() if now is None else now
    if first_line == 1 and lines and isinstance(lines[0], bytes):
        lines = [lines[0].removeprefix(UTF8_BOM), *lines[1:]]
    if not any(isinstance(line, LineTooLong) for line in lines):
        body = b"\n".join(lines)  # type: ignore[arg-type]
        klines: list[Kline] = []
        try:
            if _KLINE_MARK in body:  # a minute's kline or two among the trades: set them apart
                at = [i for i, line in enumerate(lines) if _KLINE_MARK in line and is_kline_event(line)]  # type: ignore[operator, arg-type]
                klines = [parse_kline_event(lines[i], now=now) for i in at]  # type: ignore[arg-type]
                others = list(lines)
                for i in reversed(at):
                    del others[i]
                body = b"\n".join(others)  # type: ignore[arg-type]
            trades = parse_event_batch(body, now=now)
        except BadLineError:
            pass
        else:
            return Parsed(source=source, trades=trades, lines=len(trades) + len(klines), klines=klines)
    # The slow loop: JSON allows the trailing "\r\n", so lines go to the parser as they are.
    parsed = Parsed(source=source)
    add, rejects = parsed.trades.append, parsed.rejects
    for number, line in enumerate(lines, first_line):
        if isinstance(line, LineTooLong):
            rejects.append(Rejected(number, _too_long(line), _text(line.head) + "..."))
            continue
        if not line.strip():  # a blank line (a trailing newline makes one) is not data
            continue
        try:
            if is_kline_event(line):
                parsed.klines.append(parse_kline_event(line, now=now))
            else:
                add(parse_event(line, now=now))
        except BadLineError as exc:
            reason = f"kline event: {exc}" if is_kline_event(line) else str(exc)
            rejects.append(Rejected(number, reason, _text(line.rstrip(b"\r\n"))))
    parsed.lines = len(parsed.trades) + len(parsed.klines) + len(rejects)
    return parsed


def decompressed(chunks: Iterable[bytes], max_bytes: int) -> Iterator[bytes]:
    """The bytes of a plain or gzip stream (several gzip members allowed), at most
    ``max_bytes`` of them: `ObjectTooLargeError` past that, `CorruptFileError` for bad gzip."""
    chunks = iter(chunks)
    first = b""
    for chunk in chunks:  # the first non-empty chunk tells plain from gzip
        if chunk:
            first = chunk
            break
    if first.startswith(_GZIP_MAGIC):
        pieces = _gunzipped(itertools.chain([first], chunks))
    else:
        pieces = itertools.chain([first], chunks)
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > max_bytes:
            raise ObjectTooLargeError(f"more than {max_bytes} bytes once decompressed (the limit)")
        if piece:
            yield piece


def _gunzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    started = False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                started = True
                # At most _PIECE bytes out per call, so a gzip bomb never expands in memory at once.
                yield inflater.decompress(data, _PIECE)
                if inflater.eof:  # a member ended; the next one (if any) starts in unused_data
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                    started = False
                else:
                    data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise CorruptFileError(f"not a readable gzip stream: {exc}") from None
    if started and not inflater.eof:
        raise CorruptFileError("not a readable gzip stream: it ends before its last member does")


def line_batches(pieces: Iterable[bytes], max_line: int) -> Iterator[list[bytes | LineTooLong]]:
    """The lines of a byte stream (without their ``\\n``), a list per piece read; a line
    longer than ``max_line`` bytes becomes a `LineTooLong` and is never held whole."""
    carry = b""  # the unfinished line so far, at most max_line bytes
    skipped = 0  # > 0: inside a line already too long, this many bytes seen
    head = b""
    for piece in pieces:
        parts = piece.split(b"\n")
        if len(parts) == 1:  # no line ends in this piece
            if skipped:
                skipped += len(piece)
            elif len(carry) + len(piece) > max_line:
                skipped, head, carry = len(carry) + len(piece), (carry + piece[:_KEPT_HEAD])[:_KEPT_HEAD], b""
            else:
                carry += piece
            continue
        out: list[bytes | LineTooLong] = []
        if skipped:
            out.append(LineTooLong(skipped + len(parts[0]), head))
            skipped = 0
        else:
            out.append(bounded_line(carry + parts[0], max_line))
        middle = parts[1:-1]
        if middle and max(map(len, middle)) > max_line:
            out.extend(bounded_line(line, max_line) for line in middle)
        else:
            out.extend(middle)
        last = parts[-1]
        if len(last) > max_line:
            skipped, head, carry = len(last), last[:_KEPT_HEAD], b""
        else:
            carry = last
        yield out
    if skipped:
        yield [LineTooLong(skipped, head)]
    elif carry:
        yield [carry]


def bounded_line(line: bytes, max_line: int) -> bytes | LineTooLong:
    return line if len(line) <= max_line else LineTooLong(len(line), line[:_KEPT_HEAD])


def _too_long(line: LineTooLong) -> str:
    return f"line of {line.length} bytes or more is longer than the limit: not read"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def read_trades(
    path: str | Path, symbol: str | None = None, limits: ReadLimits = ReadLimits(), *, now: int | None = None
) -> Parsed:
    """Read every trade of a captured stream or a public-data aggTrades file.

    ``symbol`` names the market of a CSV file whose name does not; it is ignored for
    events, which carry their own. Lines longer than ``limits.max_line`` are rejected;
    the file's size is not limited (its trades are returned in memory).
    """
    path = Path(path)
    now = now_ms() if now is None else now
    lines = itertools.chain.from_iterable(line_batches(file_chunks(path), limits.max_line))
    head: list[bytes | LineTooLong] = []
    for line in lines:  # the first line with something on it tells the format
        if not head and isinstance(line, bytes):
            line = line.removeprefix(UTF8_BOM)
        head.append(line)
        if isinstance(line, LineTooLong) or line.strip():
            break
    if not head or (isinstance(head[-1], bytes) and not head[-1].strip()):
        return Parsed(source=str(path))
    restored = itertools.chain(head, lines)
    if isinstance(head[-1], LineTooLong) or head[-1].lstrip().startswith(b"{"):
        return _parse_event_file(restored, str(path), limits.batch_lines, now)
    if symbol is None:
        named = describe_file_name(path)
        if named is None:
            raise UnreadableFileError(
                f"{path}: cannot tell the symbol of a CSV file named {path.name!r}; "
                "name it like BTCUSDT-aggTrades-2026-01-01.csv or pass --symbol"
            )
        symbol = named.symbol
    refuse_coin_margined(symbol.upper(), path)
    return parse_csv_lines(restored, symbol.upper(), str(path), now=now)


def file_chunks(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of a plain, gzip or zip file (every member of a zip, in order)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise UnreadableFileError(f"{path}: the zip archive is empty")
            for info in members:
                last = b"\n"
                with archive.open(info) as stream:
                    for piece in iter(lambda stream=stream: stream.read(_PIECE), b""):
                        last = piece[-1:]
                        yield piece
                if last != b"\n":
                    yield b"\n"  # a member's last line never runs into the next member's first
        return
    with path.open("rb") as stream:
        raw = iter(lambda: stream.read(_PIECE), b"")
        if path.suffix == ".gz":
            try:
                yield from decompressed(raw, max_bytes=2**63)
            except CorruptFileError as exc:
                raise CorruptFileError(f"{path}: {exc}") from None
        else:
            yield from raw


def iter_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a plain, gzip or zip file, each with its ``\\n`` (klines files)."""
    for lines in line_batches(file_chunks(path), max_line=ReadLimits().max_line):
        for line in lines:
            yield (line.head if isinstance(line, LineTooLong) else line) + b"\n"


def _parse_event_file(lines: Iterable[bytes | LineTooLong], source: str, batch: int, now: int) -> Parsed:
    parsed = Parsed(source=source)
    first_line = 1
    lines = iter(lines)
    while part := list(itertools.islice(lines, batch)):
        found = parse_lines(part, source, first_line=first_line, now=now)
        parsed.trades.extend(found.trades)
        parsed.klines.extend(found.klines)
        parsed.rejects.extend(found.rejects)
        parsed.lines += found.lines
        first_line += len(part)
    return parsed


def parse_csv_lines(
    lines: Iterable[bytes | LineTooLong],
    symbol: str,
    source: str,
    *,
    first_line: int = 1,
    now: int | None = None,
) -> Parsed:
    """Parse public-data CSV lines (``first_line`` is the number of the first): each reject with
    its number and reason; the header is skipped on line 1 only, blank lines are not data."""
    now = now_ms() if now is None else now
    parsed = Parsed(source=source)
    trades, rejects = parsed.trades, parsed.rejects
    for number, line in enumerate(lines, first_line):
        if number == 1 and isinstance(line, bytes):
            line = line.removeprefix(UTF8_BOM)
        if isinstance(line, LineTooLong):
            rejects.append(Rejected(number, _too_long(line), _text(line.head) + "..."))
            continue
        text = _text(line).rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split(",")
        if number == 1 and fields[0] == "agg_trade_id":
            continue  # the header of newer futures files
        try:
            trades.append(parse_csv_row(fields, symbol, now=now))
        except BadLineError as exc:
            rejects.append(Rejected(number, str(exc), text))
    parsed.lines = len(trades) + len(rejects)
    return parsed
