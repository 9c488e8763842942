"""The state file: the last agg id per symbol that Kafka has confirmed, written atomically.

Format (JSON, one object)::

    {"version": 1, "saved_at": 1767225600.5, "last_agg_ids": {"BTCUSDT": 3800397495},
     "last_kline_open_times": {"BTCUSDT": 1767225540000}}

``last_kline_open_times`` (optional: files written before klines were captured lack it) is,
per symbol, the open time (ms) of the last closed 1-minute kline Kafka confirmed; on every
new connection the producer asks REST for the klines after it.

It is written to a temporary file in the same directory, flushed to disk, then renamed over
the old one (and the directory flushed), so a crash at any moment leaves either the old
file or the new one, never half of one. Encoding and decoding are pure; `load_state` and
`save_state` do the I/O.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from binance.events import MINUTE_MS
from producer.errors import StateFileError
from producer.sequence import MAX_AGG_ID, id_in_range

STATE_VERSION = 1
MAX_KLINE_OPEN_TIME = 10**14  # ms: the year 5138, far past any real kline


@dataclass(frozen=True, slots=True)
class SavedState:
    last_agg_ids: dict[str, int] = field(default_factory=dict)
    saved_at: float | None = None  # epoch seconds; None when there was no file
    last_kline_open_times: dict[str, int] = field(default_factory=dict)  # ms


def encode_state(
    last_agg_ids: Mapping[str, int], saved_at: float, last_kline_open_times: Mapping[str, int] | None = None
) -> bytes:
    document: dict[str, object] = {
        "version": STATE_VERSION,
        "saved_at": saved_at,
        "last_agg_ids": dict(sorted(last_agg_ids.items())),
    }
    if last_kline_open_times:
        document["last_kline_open_times"] = dict(sorted(last_kline_open_times.items()))
    return (json.dumps(document, indent=1) + "\n").encode()


def decode_state(data: bytes, source: str) -> SavedState:
    """Read a state file's bytes; `StateFileError` says what is wrong and where."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StateFileError(
            f"{source}: not JSON ({exc}); move it aside to start from the live stream"
        ) from None
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        raise StateFileError(
            f"{source}: expected a version {STATE_VERSION} state object, got {str(document)[:120]!r}"
        )
    ids = document.get("last_agg_ids")
    if not isinstance(ids, dict):
        raise StateFileError(f"{source}: 'last_agg_ids' is not an object of symbol -> agg id")
    for symbol, agg_id in ids.items():
        if not isinstance(agg_id, int) or isinstance(agg_id, bool) or not id_in_range(agg_id):
            shown = repr(agg_id)
            raise StateFileError(
                f"{source}: last agg id of {symbol!r} is {shown[:40]}{'…' if len(shown) > 40 else ''}, "
                f"not a whole number from 0 to {MAX_AGG_ID}"
            )
    klines = document.get("last_kline_open_times", {})
    if not isinstance(klines, dict):
        raise StateFileError(f"{source}: 'last_kline_open_times' is not an object of symbol -> open time")
    for symbol, open_time in klines.items():
        if (
            not isinstance(open_time, int)
            or isinstance(open_time, bool)
            or not 0 <= open_time < MAX_KLINE_OPEN_TIME
            or open_time % MINUTE_MS
        ):
            shown = repr(open_time)
            shown = shown if len(shown) <= 40 else f"{shown[:40]}…"
            raise StateFileError(
                f"{source}: last kline open time of {symbol!r} is {shown}, "
                "not a minute's start in ms since the epoch"
            )
    saved_at = document.get("saved_at")
    return SavedState(dict(ids), float(saved_at) if isinstance(saved_at, int | float) else None, dict(klines))


def load_state(path: Path) -> SavedState:
    """The saved state, or an empty one when the file does not exist (a first start)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return SavedState()
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read the state file: {exc}") from exc
    return decode_state(data, str(path))


def save_state(
    path: Path,
    last_agg_ids: Mapping[str, int],
    saved_at: float,
    last_kline_open_times: Mapping[str, int] | None = None,
) -> None:
    """Replace the state file atomically (see the module docstring)."""
    data = encode_state(last_agg_ids, saved_at, last_kline_open_times)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            Path(temporary).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise
        _sync_directory(directory)
    except OSError as exc:
        raise StateFileError(f"{path}: cannot write the state file: {exc}") from exc


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
