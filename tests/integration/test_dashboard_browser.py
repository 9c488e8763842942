"""The page in a real browser: Debian's headless Chromium over a one-box SQLite database
filled from the real trades. Every panel must draw the database's minutes, the cards must
show the exact sums, times must be in the viewer's zone, and the console must stay clean.
Then what a trader meets: the market picker, the 6-hour and 30-day windows, windows past
a week (by the hour), empty windows, a slow or stopped server, a phone, dark mode, exports.
"""

from __future__ import annotations

import csv
import dataclasses
import decimal
import io
import json
import os
import re
import shutil
import struct
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from dashboard.server import DashboardServer, start_dashboard
from minutes import klines
from minutes.aggregate import minute_rows
from minutes.store import ObjectRef, open_store
from tests.fixtures.dashboard import DESKTOP, PHONE, Chromium, Filled, Page, Screen, fill_with_sample
from tests.fixtures.data import kline_of, sample_trades

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_SCREENSHOT_ENV = "CRYPTOTRADES_UPDATE_SCREENSHOT"
TOKYO = timedelta(hours=9)  # Asia/Tokyo has no daylight saving: a fixed offset to check against
CHARTS = (
    "chart-candles",
    "chart-prices",
    "chart-spread",
    "chart-usd",
    "chart-daily-counts",
    "chart-daily-prices",
)
CHART_PANELS = ("panel-candles", "panel-prices", "panel-spread", "panel-usd",
                "panel-daily-counts", "panel-daily-prices")  # fmt: skip
PANELS = ("health", "totals", *CHART_PANELS)
# The sample's 13 minutes, 09:00 to 09:13 in Tokyo: the window the documentation's pictures show.
SAMPLE_WINDOW = "#symbol=BTCUSDT&start=2026-01-01T00%3A00%3A00.000Z&end=2026-01-01T00%3A13%3A00.000Z"
READY = "document.body && document.body.dataset.ready === 'true' && document.body.dataset.loading === 'false'"


@dataclass
class OneBox:
    url: str
    server: DashboardServer
    filled: Filled


@pytest.fixture(scope="module")
def onebox(tmp_path_factory) -> Iterator[OneBox]:
    url = f"sqlite:///{tmp_path_factory.mktemp('onebox') / 'cryptotrades.db'}"
    with open_store(url) as store:
        store.migrate()
        filled = fill_with_sample(store)
    with start_dashboard(url, dead_letters=lambda: 0) as server:
        yield OneBox(url, server, filled)


def open_page(chromium: Chromium, url: str, screen: Screen = DESKTOP, color_scheme: str = "light") -> Page:
    page = chromium.new_page(screen, timezone="Asia/Tokyo", color_scheme=color_scheme)
    page.navigate(url)
    page.wait_for(READY)
    return page


def panel_states(page: Page) -> dict[str, str]:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-state]')].map(e => [e.id, e.dataset.state]))"
    )


def points(page: Page, chart: str) -> list[int]:
    """How many points each trace of a chart holds."""
    return page.evaluate(f"document.getElementById('{chart}').data.map(t => (t.x || []).length)")


def text_of(page: Page, element_id: str) -> str:
    return page.evaluate(f"document.getElementById('{element_id}').textContent")


def messages(page: Page) -> dict[str, str]:
    """The message each chart panel shows over its chart, if any."""
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.panel')].map(p => [p.id,"
        " p.querySelector('.message').hidden ? '' : p.querySelector('.message').textContent]))"
    )


def click(page: Page, selector: str) -> None:
    page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


def refreshed_after(page: Page, action: str) -> None:
    """Run ``action`` (JavaScript) and wait until the page has drawn what it asked for."""
    before = int(page.evaluate("document.body.dataset.refreshes"))
    page.evaluate(action)
    page.wait_for(f"Number(document.body.dataset.refreshes) > {before} && {READY}")


def money(value: Decimal) -> str:
    """What the cards should show: dollars and cents, half away from zero, grouped."""
    cents = value.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
    return f"${cents:,.2f}"


def api(server: DashboardServer, path: str, **params: str) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{server.url}{path.lstrip('/')}?{query}", timeout=60) as response:
        return json.loads(response.read())


def overlaps(page: Page) -> list[str]:
    """What covers what in the chart panels: legends against the panel's buttons, the plot
    areas and their chart's edges; any plotly toolbar left over a chart."""
    return page.evaluate("""(() => {
      const found = [];
      const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      for (const panel of document.querySelectorAll('.panel')) {
        if (panel.querySelector('.modebar-btn')) found.push(`${panel.id}: a plotly toolbar over the chart`);
        const legend = panel.querySelector('.legend');
        if (!legend) continue;
        const box = legend.getBoundingClientRect();
        const tools = panel.querySelector('.tools').getBoundingClientRect();
        if (hit(box, tools)) found.push(`${panel.id}: legend under the buttons`);
        for (const plot of panel.querySelectorAll('.nsewdrag')) {
          if (hit(box, plot.getBoundingClientRect())) found.push(`${panel.id}: legend over the data`);
        }
        const chart = panel.querySelector('.chart').getBoundingClientRect();
        const past = box.left < chart.left - 1 || box.right > chart.right + 1;
        if (past) found.push(`${panel.id}: legend past the chart`);
      }
      return found;
    })()""")


def save_for_docs(shot: Path, name: str) -> None:
    """The documentation's pictures are updated on request only: every run's image differs
    (the page shows how old the newest minute is)."""
    if os.environ.get(UPDATE_SCREENSHOT_ENV) == "1":
        shutil.copyfile(shot, DOCS / name)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


# -- what the database holds, drawn


def test_every_panel_draws_the_database(chromium, onebox, tmp_path):
    trades = onebox.filled.trades
    minutes = sorted({t.minute for t in trades})
    page = open_page(chromium, onebox.server.url)

    assert panel_states(page) == dict.fromkeys(PANELS, "ready")
    for chart in CHARTS:
        counts = points(page, chart)
        assert counts and all(count > 0 for count in counts), (chart, counts)
    assert points(page, "chart-candles") == [len(minutes)] * 4  # candles, delta, running sum, trades
    assert points(page, "chart-daily-counts") == [1, 1, 1]  # one UTC day: buys, sells, all

    # Times in the viewer's zone: the first candle is 00:00 UTC, 09:00 in Tokyo.
    first = datetime.fromtimestamp(minutes[0] / 1000, tz=UTC) + TOKYO
    assert page.evaluate("document.getElementById('chart-candles').data[0].x[0]") == first.strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    assert "Asia/Tokyo (UTC+09:00)" in text_of(page, "zone-label")
    assert text_of(page, "window-label") == "Last hour, ending with the newest data: 2026-01-01 08:13 → 09:13"
    assert text_of(page, "grain-label") == "a point per minute"

    # The cards show the exact sums, rounded only for display.
    usd_buy = sum((t.price * t.qty for t in trades if not t.is_buyer_maker), Decimal(0))
    usd_sell = sum((t.price * t.qty for t in trades if t.is_buyer_maker), Decimal(0))
    text = page.evaluate(
        "Object.fromEntries(['kpi-count', 'kpi-usd-buy', 'kpi-usd-sell', 'kpi-net', 'health-objects',"
        " 'health-rejected', 'health-duplicates', 'health-dead']"
        ".map(id => [id, document.getElementById(id).textContent]))"
    )
    assert text == {
        "kpi-count": f"{len(trades):,}",
        "kpi-usd-buy": money(usd_buy),
        "kpi-usd-sell": money(usd_sell),
        "kpi-net": "+" + money(usd_buy - usd_sell),
        "health-objects": str(onebox.filled.objects),
        "health-rejected": str(onebox.filled.rejected),
        "health-duplicates": str(onebox.filled.duplicates),
        "health-dead": "0",
    }
    assert page.evaluate("document.querySelector('.status-card').dataset.status") == "stale"  # old trades

    # Legends above their plots, clear of the panel's export buttons; no plotly toolbar.
    assert page.evaluate("document.querySelectorAll('.panel .legend').length") == len(CHARTS)
    assert overlaps(page) == []
    assert page.console_errors() == []

    refreshed_after(page, f"location.hash = {json.dumps(SAMPLE_WINDOW)}")
    shot = page.screenshot(tmp_path / "dashboard.png")
    assert shot.stat().st_size > 50_000  # a page of charts, not a blank one
    save_for_docs(shot, "dashboard.png")
    assert page.console_errors() == []


def test_exact_formatting_in_the_page(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    cases = {
        '"4257185.1999857000000000", 2': "4,257,185.20",
        '"-1234.565", 2': "−1,234.57",  # half away from zero, as the exact value says
        '"0.004", 2': "0.00",
        '"-0.004", 2': "0.00",
        '"99999999999999999.995", 2': "100,000,000,000,000,000.00",  # past float precision
        '"48.52389000", 4': "48.5239",
    }
    for arguments, expected in cases.items():
        assert page.evaluate(f"cryptotrades.formatDecimal({arguments})") == expected, arguments
    # a left and a right axis whose zeros line up
    left, right = page.evaluate("cryptotrades.alignedRanges([-1, 3], [-10, 10])")
    assert left[0] / (left[1] - left[0]) == pytest.approx(right[0] / (right[1] - right[0]))
    assert page.console_errors() == []


# -- windows


def test_range_picker_and_custom_window(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    refreshed_after(page, "document.querySelector('[data-range=\"7d\"]').click()")
    assert page.evaluate("location.hash") == "#symbol=BTCUSDT&range=7d&anchor=latest"
    assert text_of(page, "window-label").startswith("Last week")
    assert (
        page.evaluate("document.querySelector('[data-range=\"7d\"]').getAttribute('aria-pressed')") == "true"
    )

    # A custom window of five minutes, typed in Tokyo time: 09:02 to 09:07 is 00:02 to 00:07 UTC.
    # Custom then Show at once: the second choice arrives while the first is being fetched.
    page.evaluate(
        "document.querySelector('[data-range=\"custom\"]').click();"
        "document.getElementById('custom-start').value = '2026-01-01T09:02';"
        "document.getElementById('custom-end').value = '2026-01-01T09:07';"
        "document.getElementById('custom').requestSubmit();"
    )
    assert (
        page.evaluate("location.hash")
        == "#symbol=BTCUSDT&start=2026-01-01T00%3A02%3A00.000Z&end=2026-01-01T00%3A07%3A00.000Z"
    )
    page.wait_for("document.getElementById('chart-candles').data[0].x.length === 5")
    assert page.evaluate("document.getElementById('chart-candles').data[0].x") == [
        f"2026-01-01 09:0{minute}:00" for minute in range(2, 7)
    ]
    assert page.evaluate("document.getElementById('live').disabled") is True  # a fixed window
    start = onebox.filled.trades[0].minute
    in_window = sum(1 for t in onebox.filled.trades if 2 <= (t.minute - start) // 60_000 < 7)
    assert text_of(page, "kpi-count") == f"{in_window:,}"
    assert page.console_errors() == []


def test_six_hours_and_thirty_days_are_in_the_page(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    refreshed_after(page, "document.querySelector('[data-range=\"6h\"]').click()")
    assert page.evaluate("location.hash") == "#symbol=BTCUSDT&range=6h&anchor=latest"
    assert (
        text_of(page, "window-label") == "Last 6 hours, ending with the newest data: 2026-01-01 03:13 → 09:13"
    )
    assert points(page, "chart-candles")[0] == 13 and text_of(page, "grain-label") == "a point per minute"

    # 30 days is 43,200 minutes: served by the hour, the sample's 13 minutes in one point.
    refreshed_after(page, "document.querySelector('[data-range=\"30d\"]').click()")
    assert page.evaluate("location.hash") == "#symbol=BTCUSDT&range=30d&anchor=latest"
    assert text_of(page, "window-label") == (
        "Last 30 days, ending with the newest data: 2025-12-02 10:00 → 2026-01-01 10:00"
    )
    assert text_of(page, "grain-label") == "a point per hour"
    assert panel_states(page) == dict.fromkeys(PANELS, "ready")
    candles = api(onebox.server, "/api/candles", range="30d")
    assert candles["window"]["grain"] == "hour"
    drawn = page.evaluate(
        "(() => { const d = document.getElementById('chart-candles').data;"
        " return [d[0].x, d[0].open, d[0].high, d[0].low, d[0].close, d[3].y]; })()"
    )
    series = candles["series"]
    assert drawn == [
        ["2026-01-01 09:00:00"],
        *([float(v) for v in series[k]] for k in ("open", "high", "low", "close")),
        series["trades"],
    ]
    assert text_of(page, "kpi-count") == f"{len(onebox.filled.trades):,}"
    # The words follow the grain: "each hour", the spread's 24-hour sum.
    assert "each hour" in text_of(page, "panel-prices")
    assert "the last 24 hours" in text_of(page, "panel-spread")
    assert page.evaluate("document.getElementById('chart-spread').data[1].name") == "24-hour sum"
    assert page.evaluate("document.getElementById('live').textContent").endswith("Live · 60s")
    assert page.console_errors() == []


def test_a_custom_window_past_a_week_is_drawn_by_the_hour(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    page.evaluate("document.querySelector('[data-range=\"custom\"]').click()")
    refreshed_after(
        page,
        "document.getElementById('custom-start').value = '2025-12-25T09:30';"
        "document.getElementById('custom-end').value = '2026-01-04T12:00';"
        "document.getElementById('custom').requestSubmit();",
    )
    assert panel_states(page) == dict.fromkeys(PANELS, "ready")
    assert set(messages(page).values()) == {""}
    assert text_of(page, "grain-label") == "a point per hour"
    # Whole hours: 09:30 Tokyo is 00:30 UTC, so the window starts at 00:00 UTC, 09:00 Tokyo.
    assert text_of(page, "window-label") == "Custom window: 2025-12-25 09:00 → 2026-01-04 12:00"
    assert points(page, "chart-candles") == [1] * 4
    assert page.console_errors() == []


def test_no_panel_shows_the_apis_own_error_text(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    # The form refuses a window past 400 days before asking the server ...
    page.evaluate("document.querySelector('[data-range=\"custom\"]').click()")
    page.evaluate(
        "document.getElementById('custom-start').value = '2024-01-01T00:00';"
        "document.getElementById('custom-end').value = '2026-01-01T00:00';"
        "document.getElementById('custom').requestSubmit();"
    )
    assert text_of(page, "custom-hint") == "At most 400 days; this is 731 days."
    assert "2024" not in page.evaluate("location.hash")
    # ... and a shared link that asks for one anyway gets words, not the API's 400.
    far = "#symbol=BTCUSDT&start=2020-01-01T00%3A00%3A00Z&end=2026-01-01T00%3A00%3A00Z"
    refreshed_after(page, f"location.hash = {json.dumps(far)}")
    shown = messages(page)
    assert set(shown.values()) == {
        "This window cannot be shown: choose a preset, or a custom window of at most 400 days."
    }
    assert panel_states(page)["totals"] == "error"
    body = page.evaluate("document.body.innerText")
    for raw in ("end:", "HTTP", "parameter", "window from start"):
        assert raw not in body, raw
    assert not text_of(page, "window-label").startswith("Loading")
    # (The console has the 400s, for whoever debugs: the page logs the API's words there.)


def test_an_empty_window_has_the_windows_own_axis(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    june = "#symbol=BTCUSDT&start=2025-06-01T00%3A00%3A00Z&end=2025-06-02T00%3A00%3A00Z"
    refreshed_after(page, f"location.hash = {json.dumps(june)}")
    states = panel_states(page)
    assert {states[panel] for panel in CHART_PANELS} == {"empty"}
    assert messages(page)["panel-candles"] == (
        "No BTCUSDT trades in this window; the newest is from 2026-01-01 09:12."
    )
    axis = page.evaluate("document.getElementById('chart-candles')._fullLayout.xaxis.range")
    assert axis == ["2025-06-01 08:59:30", "2025-06-02 08:59:30"]  # the day asked for, in Tokyo
    for chart in ("chart-prices", "chart-spread", "chart-usd"):
        assert page.evaluate(f"document.getElementById('{chart}')._fullLayout.xaxis.range")[0].startswith(
            "2025-06-01"
        ), chart
    days = page.evaluate("document.getElementById('chart-daily-counts')._fullLayout.xaxis.range")
    assert days[0].startswith("2025-05-03") and days[1].startswith("2025-06-02")
    assert page.evaluate("document.getElementById('chart-prices')._fullLayout.yaxis.showticklabels") is False
    assert text_of(page, "kpi-count") == "0"
    assert page.console_errors() == []


def test_a_loading_window_shows_it(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    page.throttle(latency_ms=1500)
    try:
        page.evaluate("document.querySelector('[data-range=\"24h\"]').click()")
        assert page.evaluate("document.body.dataset.loading") == "true"
        assert page.evaluate("getComputedStyle(document.getElementById('progress')).visibility") == "visible"
        assert page.evaluate("document.getElementById('panel-candles').dataset.loading") == "true"
        assert text_of(page, "window-label") == "Last day, ending with the newest data: loading…"
        page.wait_for(READY)
    finally:
        page.throttle(latency_ms=0)
    assert page.evaluate("getComputedStyle(document.getElementById('progress')).visibility") == "hidden"
    assert page.evaluate("document.getElementById('panel-candles').dataset.loading") == "false"
    assert text_of(page, "window-label").startswith("Last day, ending with the newest data: 2025-12-31 09:13")
    assert page.console_errors() == []


# -- markets


@pytest.fixture(scope="module")
def markets(tmp_path_factory) -> Iterator[tuple[DashboardServer, int]]:
    """The real trades, and a second market made of their first 300 (another symbol)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('markets') / 'cryptotrades.db'}"
    second = [msgspec.structs.replace(t, symbol="ETHUSDT") for t in sample_trades()[:300]]
    with open_store(url) as store:
        store.migrate()
        fill_with_sample(store)
        store.ingest(ObjectRef("b", "trades/eth.ndjson", "e"), second, lines=len(second), rejected=0)
    with start_dashboard(url) as server:
        yield server, len(second)


def test_the_health_strip_counts_minutes_agreeing_with_binance_and_the_charts_mark_the_others(
    chromium, tmp_path
):
    url = f"sqlite:///{tmp_path / 'cryptotrades.db'}"
    rows = minute_rows(sample_trades())
    seventh = rows[7].trades_buy + rows[7].trades_sell
    with open_store(url) as store:
        store.migrate()
        fill_with_sample(store)
        with store.writing():
            klines.store_klines(store, [kline_of(r, trades=seventh + 1) if i == 7 else kline_of(r)
                                        for i, r in enumerate(rows)])  # fmt: skip
    with start_dashboard(url, dead_letters=lambda: 0) as server:
        page = open_page(chromium, server.url + SAMPLE_WINDOW)
        assert text_of(page, "health-check") == "12 of 13"
        assert text_of(page, "health-check-sub") == (
            f"minutes, last 24 h · 1 differ: 00:07 trades {seventh} vs {seventh + 1}"
        )
        assert page.evaluate("document.querySelector('.check-card').dataset.check") == "differs"
        assert page.evaluate("document.getElementById('health-check').title") == (
            "last 24 h: 12 of 13 minutes agree with Binance; "
            f"1 differ: 00:07 trades {seventh} vs {seventh + 1}"
        )
        # 00:07 UTC is 09:07 in Tokyo: one dotted line there on every per-minute chart.
        for chart in ("chart-candles", "chart-prices", "chart-spread", "chart-usd"):
            shapes = page.evaluate(f"document.getElementById('{chart}').layout.shapes")
            assert [(s["x0"], s["x1"], s["yref"]) for s in shapes] == [
                ("2026-01-01 09:07:00", "2026-01-01 09:07:00", "paper")
            ], chart
        assert page.console_errors() == []
    without = url.replace("cryptotrades.db", "without-klines.db")
    with open_store(without) as store:
        store.migrate()
        fill_with_sample(store)
    with start_dashboard(without, dead_letters=lambda: 0) as server:
        page = open_page(chromium, server.url + SAMPLE_WINDOW)
        assert text_of(page, "health-check-sub") == "no klines stored yet"
        assert page.evaluate("document.getElementById('chart-candles').layout.shapes") == []


def test_the_market_picker_lists_the_database_and_the_address_keeps_the_choice(chromium, markets):
    server, eth_trades = markets
    page = open_page(chromium, server.url)
    options = page.evaluate("[...document.getElementById('symbol').options].map(o => o.value)")
    assert options == ["BTCUSDT", "ETHUSDT"]
    refreshed_after(page, "{ const s = document.getElementById('symbol'); s.value = 'ETHUSDT';"
                          " s.dispatchEvent(new Event('change')); }")  # fmt: skip
    assert page.evaluate("location.hash") == "#symbol=ETHUSDT&range=1h&anchor=latest"
    assert text_of(page, "kpi-count") == f"{eth_trades:,}"
    assert page.evaluate("document.title") == "cryptotrades · ETHUSDT"
    assert points(page, "chart-candles")[0] == len({t.minute for t in sample_trades()[:300]})

    # A reload, and a shared link opened elsewhere, show the same market.
    page.call("Page.reload")
    page.wait_for(f"document.body.dataset.refreshes === '1' && {READY}")
    assert page.evaluate("document.getElementById('symbol').value") == "ETHUSDT"
    assert text_of(page, "kpi-count") == f"{eth_trades:,}"
    shared = open_page(chromium, server.url + "#symbol=ethusdt&range=24h")
    assert shared.evaluate("document.getElementById('symbol').value") == "ETHUSDT"
    assert text_of(shared, "kpi-count") == f"{eth_trades:,}"

    # A market the database does not hold is named as such, and its panels say so.
    unknown = open_page(chromium, server.url + "#symbol=SOLUSDT")
    assert unknown.evaluate("document.getElementById('symbol').selectedOptions[0].textContent") == (
        "SOLUSDT (no rows)"
    )
    assert messages(unknown)["panel-candles"] == "No SOLUSDT trades stored yet."
    for tab in (page, shared, unknown):
        assert tab.console_errors() == []


# -- live, and a server that goes away


def test_live_refresh_shows_a_new_minute(chromium, tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    trades = sample_trades()
    first, later = trades[:2000], trades[2000:]  # later minutes arrive while the page is open
    with open_store(url) as store:
        store.migrate()
        fill_with_sample(store, first)
        with start_dashboard(url, refresh_seconds=1) as server:
            page = open_page(chromium, server.url)
            assert points(page, "chart-candles")[0] == len({t.minute for t in first})
            store.ingest(
                ObjectRef("live", "trades/later.ndjson", "etag"), later, lines=len(later), rejected=0
            )
            expected = len({t.minute for t in trades})
            page.wait_for(f"document.getElementById('chart-candles').data[0].x.length === {expected}")
            newest = datetime.fromtimestamp(trades[-1].minute / 1000, tz=UTC) + TOKYO
            page.wait_for(
                f"document.getElementById('health-newest').textContent === '{newest:%Y-%m-%d %H:%M}'"
            )
            assert page.console_errors() == []


def cards_look(look: str) -> str:
    """JavaScript: are all cards and panels drawn so (opacity and filter, once faded)?"""
    return (
        "[...document.querySelectorAll('.card, .panel')].every(e => "
        f"getComputedStyle(e).opacity + ' ' + getComputedStyle(e).filter === '{look}')"
    )


def test_a_server_that_stops_answering_is_shown_offline_until_it_answers(chromium, onebox, tmp_path):
    server = start_dashboard(onebox.url, refresh_seconds=1)
    port = server.port
    try:
        page = open_page(chromium, server.url)
        assert page.evaluate("document.body.dataset.connection") == "online"
        page.wait_for(cards_look("1 none"))
        server.close()
        stopped = datetime.now(UTC) + TOKYO
        page.wait_for("document.body.dataset.connection === 'offline'", timeout=30)
        live = page.evaluate("document.getElementById('live').textContent")
        assert live in {f"Offline since {stopped + timedelta(minutes=m):%H:%M}" for m in (0, 1)}, live
        page.wait_for(cards_look("0.5 grayscale(1)"))  # the stale figures, greyed
        assert page.evaluate("document.getElementById('offline-banner').hidden") is False
        assert "stopped answering" in text_of(page, "offline-banner")
        assert text_of(page, "kpi-count") == f"{len(onebox.filled.trades):,}"  # still there, greyed

        server = start_dashboard(onebox.url, port=port, refresh_seconds=1)
        page.wait_for("document.body.dataset.connection === 'online'", timeout=30)
        page.wait_for("document.getElementById('live').textContent.endsWith('Live · 1s')")
        page.wait_for("document.getElementById('offline-banner').hidden")
        page.wait_for(cards_look("1 none"))
        errors = page.console_errors()  # Chromium's own lines about the refused requests, no others
        assert errors and all(
            re.search("ERR_CONNECTION|ERR_EMPTY_RESPONSE|Failed to fetch", e) for e in errors
        )
    finally:
        server.close()


# -- a phone, dark mode


def test_on_a_phone_nothing_scrolls_sideways_and_the_first_chart_is_on_the_first_screen(chromium, tmp_path):
    # A database deep in a long path: the footer names it, and it must wrap, not widen the page.
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / "and-another-one-below-it"
    deep.mkdir(parents=True)
    url = f"sqlite:///{deep / 'cryptotrades.db'}"
    with open_store(url) as store:
        store.migrate()
        fill_with_sample(store)
    with start_dashboard(url, dead_letters=lambda: 0) as server:
        page = open_page(chromium, server.url, PHONE)
        assert str(deep) in text_of(page, "database-label")
        for width in (PHONE.width, 320):
            page.emulate(dataclasses.replace(PHONE, width=width))
            page.wait_for(f"innerWidth === {width}")
            page.wait_for(
                "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
            )
            wide = page.evaluate(
                "[document.documentElement.scrollWidth, innerWidth,"
                " [...document.querySelectorAll('body *')]"
                ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
                ".map(e => e.id || e.className.baseVal || e.className || e.tagName).slice(0, 5)]"
            )
            assert wide[0] <= wide[1] and wide[2] == [], (width, wide)
        page.emulate(PHONE)
        page.wait_for(f"innerWidth === {PHONE.width}")
        plot_top = page.evaluate(
            "document.querySelector('#chart-candles .nsewdrag').getBoundingClientRect().top + scrollY"
        )
        assert plot_top < PHONE.height - 200, plot_top  # the candles' plot, with room to see them
        assert overlaps(page) == []
        shot = page.screenshot(tmp_path / "dashboard-phone.png", full_page=False)
        assert png_size(shot.read_bytes()) == (PHONE.width * 2, PHONE.height * 2)
        save_for_docs(shot, "dashboard-phone.png")
        page.screenshot(tmp_path / "dashboard-phone-whole.png")  # for whoever looks at a failure
        assert page.console_errors() == []


def colour(page: Page, script: str) -> tuple[int, ...]:
    """A CSS colour (#rrggbb or rgb(r, g, b)) as its three channels."""
    text = page.evaluate(script).strip()
    if text.startswith("#"):
        return tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(int(v) for v in re.findall(r"\d+", text)[:3])


def dark(rgb: tuple[int, ...]) -> bool:
    return sum(rgb) < 3 * 64


def test_dark_mode_follows_the_system_charts_included(chromium, onebox, tmp_path):
    page = open_page(chromium, onebox.server.url + SAMPLE_WINDOW, color_scheme="dark")
    assert dark(colour(page, "getComputedStyle(document.documentElement).backgroundColor"))
    assert dark(colour(page, "getComputedStyle(document.querySelector('.card')).backgroundColor"))
    assert not dark(colour(page, "getComputedStyle(document.querySelector('.card .value')).color"))
    for chart in CHARTS:
        assert dark(colour(page, f"document.getElementById('{chart}')._fullLayout.plot_bgcolor")), chart
        assert not dark(colour(page, f"document.getElementById('{chart}')._fullLayout.font.color")), chart
    shot = page.screenshot(tmp_path / "dashboard-dark.png")
    save_for_docs(shot, "dashboard-dark.png")

    # The system turns light: page and charts follow without a reload.
    page.color_scheme("light")
    page.wait_for(
        "getComputedStyle(document.documentElement).backgroundColor === 'rgb(241, 245, 249)'"
        " && document.getElementById('chart-usd')._fullLayout.plot_bgcolor === '#ffffff'"
    )
    assert not dark(colour(page, "document.getElementById('chart-candles')._fullLayout.plot_bgcolor"))
    assert page.console_errors() == []


# -- export


def test_every_chart_exports_png_and_exact_csv(chromium, onebox, tmp_path):
    folder = tmp_path / "downloads"
    window = {"symbol": "BTCUSDT", "start": "2026-01-01T00:00:00.000Z", "end": "2026-01-01T00:13:00.000Z"}
    daily = {**window, "start": "2025-12-02T00:13:00.000Z"}
    sources = {
        "panel-candles": ("/api/candles", window, "candles", None),
        "panel-prices": ("/api/prices", window, "prices", None),
        "panel-spread": ("/api/spread", window, "spread", None),
        "panel-usd": ("/api/usd", window, "usd", None),
        "panel-daily-counts": ("/api/daily", daily, "trades-per-day",
                               ["day", "total_count_buy", "total_count_sell", "total_count", "trades_buy",
                                "trades_sell"]),
        "panel-daily-prices": ("/api/daily", daily, "price-per-day",
                               ["day", "avg_price_buy", "avg_price_sell", "total_usd_buy", "total_btc_buy",
                                "total_usd_sell", "total_btc_sell"]),
    }  # fmt: skip
    for panel, (path, params, name, columns) in sources.items():
        # A fresh tab per panel: Chromium lets one tab start only so many downloads (it refused
        # the eleventh of one tab, scripted click or real, when the whole suite ran before it).
        page = open_page(chromium, onebox.server.url + SAMPLE_WINDOW)
        page.downloads_to(folder)
        page.press(f"#{panel} [data-export=csv]")
        series = api(onebox.server, path, **params)["series"]
        columns = columns or list(series)
        expected = [columns] + [
            ["" if series[c][i] is None else str(series[c][i]) for c in columns]
            for i in range(len(series[columns[0]]))
        ]
        csv_file = wait_for_file(folder, f"cryptotrades-BTCUSDT-{name}-", ".csv")
        assert list(csv.reader(io.StringIO(csv_file.read_text()))) == expected, panel
        assert len(expected) > 1

        page.press(f"#{panel} [data-export=png]")
        png = wait_for_file(folder, f"cryptotrades-BTCUSDT-{name}-", ".png")
        chart = page.evaluate(
            f"[...['clientWidth', 'clientHeight'].map(k => document.querySelector('#{panel} .chart')[k])]"
        )
        assert png_size(png.read_bytes()) == (chart[0] * 2, (chart[1] + 32) * 2), panel  # and its title
    # The prices come out exactly as the database holds them, not as floats.
    prices = (
        folder / "done-cryptotrades-BTCUSDT-prices-minute-20260101T0000Z-20260101T0013Z.csv"
    ).read_text()
    assert "2026-01-01T00:00:00Z,87643.09060574,87642.66201135" in prices
    assert page.console_errors() == []


def wait_for_file(folder: Path, prefix: str, suffix: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in folder.glob(f"{prefix}*{suffix}") if p.stat().st_size > 0]
        if found:
            (done,) = found
            moved = done.with_name("done-" + done.name)
            done.rename(moved)  # so the next panel's file is not mistaken for it
            return moved
        time.sleep(0.1)
    raise AssertionError(f"no {prefix}*{suffix} in {folder} within {timeout:g} s: {list(folder.iterdir())}")
