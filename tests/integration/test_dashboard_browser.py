"""The page in a real browser: Debian's headless Chromium over a one-box SQLite database
filled from the real trades. Every panel must draw the database's minutes, the cards must
show the exact sums, times must be in the viewer's zone, and the console must stay clean.
"""

from __future__ import annotations

import decimal
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.server import DashboardServer, start_dashboard
from minutes.store import ObjectRef, open_store
from tests.fixtures.dashboard import Chromium, Filled, Page, fill_with_sample
from tests.fixtures.data import sample_trades

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
PANELS = ("health", "totals", "panel-candles", "panel-prices", "panel-spread", "panel-usd",
          "panel-daily-counts", "panel-daily-prices")  # fmt: skip


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


def open_page(chromium: Chromium, url: str) -> Page:
    page = chromium.new_page(width=1440, height=1000, timezone="Asia/Tokyo")
    page.navigate(url)
    page.wait_for("document.body && document.body.dataset.ready === 'true'")
    return page


def panel_states(page: Page) -> dict[str, str]:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-state]')].map(e => [e.id, e.dataset.state]))"
    )


def points(page: Page, chart: str) -> list[int]:
    """How many points each trace of a chart holds."""
    return page.evaluate(f"document.getElementById('{chart}').data.map(t => (t.x || []).length)")


def money(value: Decimal) -> str:
    """What the cards should show: dollars and cents, half away from zero, grouped."""
    cents = value.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
    return f"${cents:,.2f}"


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
    assert "Asia/Tokyo (UTC+09:00)" in page.evaluate("document.getElementById('zone-label').textContent")

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

    shot = page.screenshot(tmp_path / "dashboard.png")
    assert shot.stat().st_size > 50_000  # a page of charts, not a blank one
    if os.environ.get(UPDATE_SCREENSHOT_ENV) == "1":
        shutil.copyfile(shot, DOCS / "dashboard.png")
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


def test_range_picker_and_custom_window(chromium, onebox):
    page = open_page(chromium, onebox.server.url)
    before = int(page.evaluate("document.body.dataset.refreshes"))
    page.evaluate("document.querySelector('[data-range=\"7d\"]').click()")
    page.wait_for(f"Number(document.body.dataset.refreshes) > {before}")
    assert page.evaluate("location.hash") == "#range=7d&anchor=latest"
    assert page.evaluate("document.getElementById('window-label').textContent").startswith("Last week")
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
        == "#start=2026-01-01T00%3A02%3A00.000Z&end=2026-01-01T00%3A07%3A00.000Z"
    )
    page.wait_for("document.getElementById('chart-candles').data[0].x.length === 5")
    assert page.evaluate("document.getElementById('chart-candles').data[0].x") == [
        f"2026-01-01 09:0{minute}:00" for minute in range(2, 7)
    ]
    assert page.evaluate("document.getElementById('live').disabled") is True  # a fixed window
    start = onebox.filled.trades[0].minute
    in_window = sum(1 for t in onebox.filled.trades if 2 <= (t.minute - start) // 60_000 < 7)
    assert page.evaluate("document.getElementById('kpi-count').textContent") == f"{in_window:,}"
    assert page.console_errors() == []


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
