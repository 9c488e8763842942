"""Query parameters of the API, checked, and the time window they ask for. Pure: no I/O.

A window is either a preset (``range=1h|6h|24h|7d|30d``) ending at an anchor, or custom
(``start=`` and ``end=``, ISO 8601 times with a zone). ``anchor=latest`` (the default) ends
the window with the newest stored minute, so a replay of old trades or a stalled
pipeline still shows its last hour; ``anchor=now`` ends it with the current minute.

A window has a grain, the length of one point of its series: a minute up to 7 days, an
hour up to 90 days, a day up to 400 days (``grain=`` asks for one; by default the finest
that the window's length allows). Windows are whole buckets of their grain: whole UTC
minutes, hours or days, the ones holding ``start`` and ``end`` included, so every point
of a coarser series sums whole minutes and every panel of a window sums the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from binance.events import MINUTE_MS
from dashboard.errors import BadParameterError
from dashboard.settings import SYMBOL_PATTERN

RANGES: dict[str, int] = {"1h": 60, "6h": 360, "24h": 1440, "7d": 7 * 1440, "30d": 30 * 1440}  # minutes
ANCHORS = ("latest", "now")
# Minutes in a bucket of each grain, finest first, and the longest window each serves:
# a week of minutes is 10,080 points, 90 days of hours 2,160, 400 days 400.
GRAINS: dict[str, int] = {"minute": 1, "hour": 60, "day": 1440}
GRAIN_MAX_MINUTES: dict[str, int] = {"minute": 7 * 1440, "hour": 90 * 1440, "day": 400 * 1440}
MAX_WINDOW_MINUTES = GRAIN_MAX_MINUTES["day"]
WINDOW_PARAMETERS = frozenset({"symbol", "range", "anchor", "start", "end", "grain"})
_MAX_QUERY_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Window:
    """Whole UTC minutes from ``start_ms`` (inclusive) to ``end_ms`` (exclusive)."""

    start_ms: int
    end_ms: int
    range: str | None  # the preset, or None for a custom window
    anchor: str | None  # "latest" or "now" for a preset, None for a custom window
    grain: str = "minute"  # one of GRAINS; start and end are whole buckets of it

    @property
    def minutes(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS

    @property
    def bucket_ms(self) -> int:
        return GRAINS[self.grain] * MINUTE_MS


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """What the parameters ask for, before the anchor is known."""

    range: str | None
    anchor: str | None
    start_ms: int | None
    end_ms: int | None
    grain: str = "minute"


def query_parameters(query: str, allowed: Iterable[str]) -> dict[str, str]:
    """The query string as one value per name; unknown or repeated names are refused."""
    if len(query) > _MAX_QUERY_LENGTH:
        raise BadParameterError("query", f"longer than {_MAX_QUERY_LENGTH} characters")
    allowed = frozenset(allowed)
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=20)
    except ValueError as exc:
        raise BadParameterError("query", f"not a query string ({exc})") from None
    values = {}
    for name, given in parsed.items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise BadParameterError(name, f"unknown parameter (this endpoint takes: {known})")
        if len(given) > 1:
            raise BadParameterError(name, f"given {len(given)} times; give it once")
        values[name] = given[0]
    return values


def symbol_of(params: Mapping[str, str], default: str) -> str:
    text = params.get("symbol", default).strip().upper()
    if not SYMBOL_PATTERN.match(text):
        raise BadParameterError("symbol", f"expected 2 to 20 letters or digits, e.g. BTCUSDT; got {text!r}")
    return text


def window_request(params: Mapping[str, str], default_range: str, max_minutes: int) -> WindowRequest:
    """Check the window parameters; the span may not exceed ``max_minutes``."""
    start, end = params.get("start"), params.get("end")
    if start is None and end is None:
        preset = params.get("range", default_range)
        if preset not in RANGES:
            raise BadParameterError("range", f"expected one of {', '.join(RANGES)}; got {preset!r}")
        if RANGES[preset] > max_minutes:
            raise BadParameterError("range", f"{preset} is longer than this endpoint's {_span(max_minutes)}")
        anchor = params.get("anchor", ANCHORS[0])
        if anchor not in ANCHORS:
            raise BadParameterError("anchor", f"expected one of {', '.join(ANCHORS)}; got {anchor!r}")
        grain = grain_of(params, RANGES[preset])
        return WindowRequest(preset, anchor, None, None, grain)
    for name in ("range", "anchor"):
        if name in params:
            raise BadParameterError(name, "give either range (and anchor) or start and end, not both")
    if start is None or end is None:
        missing = "start" if start is None else "end"
        raise BadParameterError(missing, "a custom window needs both start and end")
    start_ms = _floor(parse_time("start", start), MINUTE_MS)
    end_ms = _ceil(parse_time("end", end), MINUTE_MS)  # the minute that holds `end` is included
    if end_ms <= start_ms:
        raise BadParameterError("end", f"must be after start ({start!r}); got {end!r}")
    if (end_ms - start_ms) // MINUTE_MS > max_minutes:
        raise BadParameterError(
            "end", f"the window from start is longer than this endpoint's {_span(max_minutes)}"
        )
    grain = grain_of(params, (end_ms - start_ms) // MINUTE_MS)
    bucket = GRAINS[grain] * MINUTE_MS
    return WindowRequest(None, None, _floor(start_ms, bucket), _ceil(end_ms, bucket), grain)


def grain_of(params: Mapping[str, str], minutes: int) -> str:
    """The grain asked for, if it can serve a window of ``minutes``; else the finest that can."""
    asked = params.get("grain")
    if asked is None:
        return next(grain for grain, longest in GRAIN_MAX_MINUTES.items() if minutes <= longest)
    if asked not in GRAINS:
        raise BadParameterError("grain", f"expected one of {', '.join(GRAINS)}; got {asked!r}")
    if minutes > GRAIN_MAX_MINUTES[asked]:
        coarser = [g for g, longest in GRAIN_MAX_MINUTES.items() if minutes <= longest]
        raise BadParameterError(
            "grain",
            f"a {asked} grain serves at most {_span(GRAIN_MAX_MINUTES[asked])}, this window is"
            f" {_span(minutes)}: ask for {' or '.join(coarser)}, or leave grain out",
        )
    return asked


def resolve(request: WindowRequest, newest_ms: int | None, now_ms: int) -> Window:
    """The window itself, once the newest stored minute and the clock are known.

    A preset ends with the bucket holding its anchor (the newest minute, or now); with
    ``anchor=latest`` and no rows yet, it ends now.
    """
    if request.range is None:
        assert request.start_ms is not None and request.end_ms is not None
        return Window(request.start_ms, request.end_ms, None, None, request.grain)
    bucket = GRAINS[request.grain] * MINUTE_MS
    anchor_ms = newest_ms if request.anchor == "latest" and newest_ms is not None else now_ms
    end_ms = _floor(anchor_ms, bucket) + bucket  # the current, unfinished minute (or hour, day) is in
    start_ms = end_ms - RANGES[request.range] * MINUTE_MS
    return Window(start_ms, end_ms, request.range, request.anchor, request.grain)


def parse_time(name: str, text: str) -> int:
    """An ISO 8601 time with a zone (``2026-01-01T00:00:00Z``, ``...+09:00``) as epoch ms."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadParameterError(
            name, f"expected an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z; got {text!r}"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadParameterError(
            name, f"give a zone (Z for UTC, or an offset such as +09:00): {text!r} is ambiguous"
        )
    if not 2009 <= moment.astimezone(UTC).year <= 9998:  # Bitcoin's first year; far from overflow
        raise BadParameterError(name, f"expected a year from 2009; got {text!r}")
    return int(moment.timestamp() * 1000)


def iso_time(ms: int) -> str:
    """Epoch ms as ISO 8601 UTC with a Z, the form every time in the API takes."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(window: Window) -> dict[str, object]:
    """The window as the API reports it."""
    return {
        "start": iso_time(window.start_ms),
        "end": iso_time(window.end_ms),
        "minutes": window.minutes,
        "range": window.range,
        "anchor": window.anchor,
        "grain": window.grain,
    }


def _floor(ms: int, unit: int) -> int:
    return ms - ms % unit


def _ceil(ms: int, unit: int) -> int:
    return -_floor(-ms, unit)


def _span(minutes: int) -> str:
    """A length of time as people say it: 7 days, 90 days, 6 hours, 8.5 days."""
    if minutes % 1440 == 0 or minutes > 1440:
        days = minutes / 1440
        return f"{days:g} day{'s' if days != 1 else ''}" if days == int(days) else f"{days:.1f} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours > 1 else ''}"
    return f"{minutes} minutes"
