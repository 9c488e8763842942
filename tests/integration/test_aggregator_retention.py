"""Bounded storage with exactness kept, on SQLite and the real MariaDB: raw trades past the
retention window are dropped, their minutes become final, a late object is recorded and
counted (never recomputed from partial trades), and `cryptotrades rebuild` folds it in
from the raw objects (moto's S3 server)."""

from __future__ import annotations

import json

import msgspec
import pytest

from binance.events import MINUTE_MS
from cryptotrades.cli import main as cryptotrades
from lambda_aggregator import handler
from minutes.aggregate import minute_rows, minute_text
from minutes.store import ALL_SYMBOLS, ObjectRef, open_store
from tests.fixtures.aggregator import s3_event
from tests.fixtures.data import event_line, sample_trades

pytestmark = pytest.mark.integration

DAY = 86_400_000
TRADES = sample_trades()
OLD = [t for t in TRADES if t.minute == TRADES[0].minute]  # one real minute, 2026-01-01 00:00
LATER = [  # the next real minute, moved 20 days on (ids too, so they are other trades)
    msgspec.structs.replace(
        t, agg_id=t.agg_id + 10_000_000, first_trade_id=t.first_trade_id + 10**8,
        last_trade_id=t.last_trade_id + 10**8, trade_time=t.trade_time + 20 * DAY,
    )
    for t in TRADES
    if t.minute == TRADES[0].minute + MINUTE_MS
]  # fmt: skip
NOW = LATER[-1].trade_time + 5 * MINUTE_MS
RETENTION = 16 * DAY


def late_trades(count: int = 5):
    """New trades (new agg ids) of the old minute, arriving after it became final."""
    return [msgspec.structs.replace(t, agg_id=t.agg_id + 5_000_000) for t in OLD[:count]]


@pytest.fixture
def store(db_url):
    with open_store(db_url) as target:
        target.migrate()
        target.ingest(ObjectRef("b", "old", "e"), OLD, lines=len(OLD), rejected=0)
        target.ingest(ObjectRef("b", "later", "e"), LATER, lines=len(LATER), rejected=0)
        yield target


def raw_count(store) -> int:
    return store.execute("SELECT COUNT(*) FROM agg_trades")[0][0]


def test_prune_makes_old_minutes_final_then_drops_their_raw_trades(store):
    rows = store.minute_rows()
    pruned = store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100_000)
    cutoff = LATER[0].minute + MINUTE_MS - RETENTION
    assert (pruned.final_before, pruned.deleted, pruned.done) == (cutoff, len(OLD), True)
    assert raw_count(store) == len(LATER)
    assert store.minute_rows() == rows  # minute rows are kept: only raw trades go
    assert store.is_final("BTCUSDT", OLD[0].minute) and not store.is_final("BTCUSDT", LATER[0].minute)
    status = store.execute("SELECT TIME, FINAL FROM trade_minutes_status ORDER BY TIME")
    assert [int(final) for _, final in status] == [1, 0]
    assert store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100_000).deleted == 0


def test_prune_works_in_bounded_batches(store):
    first = store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100, batch_rows=30)
    assert (first.deleted, first.done) == (100, False)
    assert raw_count(store) == len(OLD) + len(LATER) - 100
    rest = store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100_000, batch_rows=30)
    assert (rest.deleted, rest.done) == (len(OLD) - 100, True)


def test_the_window_counts_back_from_the_newest_minute_so_a_replay_of_old_trades_stays_open(db_url):
    with open_store(db_url) as target:
        target.migrate()
        target.ingest(ObjectRef("b", "k", "e"), TRADES, lines=len(TRADES), rejected=0)  # 2026-01-01
        pruned = target.prune(now_ms=NOW + 300 * DAY, retention_ms=RETENTION, max_rows=100_000)
        assert pruned.deleted == 0 and not target.is_final("BTCUSDT", TRADES[0].minute)
        again = target.ingest(ObjectRef("b", "k2", "e"), TRADES, lines=len(TRADES), rejected=0)
        assert (again.late, again.duplicates) == (0, len(TRADES))


def test_a_late_object_is_recorded_as_late_and_never_recomputed_from_partial_trades(store):
    store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100_000)
    rows = store.minute_rows()
    late = late_trades() + LATER[:3]  # five late trades, three already stored
    result = store.ingest(ObjectRef("b", "late", "e"), late, lines=len(late), rejected=0)
    assert (result.status, result.accepted, result.late, result.duplicates) == ("late", 8, 5, 3)
    assert store.minute_rows() == rows
    assert raw_count(store) == len(LATER)  # late trades are not stored
    ((status, late_count, first, last),) = store.execute(
        "SELECT status, late, first_trade_time, last_trade_time FROM processed_objects"
        " WHERE object_key = 'late'"
    )
    assert (status, late_count, first, last) == (
        "late",
        5,
        late[0].trade_time,
        max(t.trade_time for t in late),
    )
    assert store.ledger_totals().late == 5


def test_a_history_range_is_final_for_its_symbol_only(store):
    minute = LATER[0].minute
    store.mark_final("BTCUSDT", minute, minute + MINUTE_MS, "history")
    assert [r.source for r in store.final_ranges(["BTCUSDT"])] == ["history"]
    btc = [msgspec.structs.replace(t, agg_id=t.agg_id + 1) for t in LATER[-1:]]
    eth = [msgspec.structs.replace(t, symbol="ETHUSDT") for t in LATER[:2]]
    assert store.ingest(ObjectRef("b", "btc", "e"), btc, lines=1, rejected=0).late == 1
    assert store.ingest(ObjectRef("b", "eth", "e"), eth, lines=2, rejected=0).late == 0
    assert not store.is_final("ETHUSDT", minute)


def test_a_final_range_only_grows(store):
    store.mark_final(ALL_SYMBOLS, 0, 10 * MINUTE_MS, "retention")
    store.mark_final(ALL_SYMBOLS, 0, 5 * MINUTE_MS, "retention")
    assert [(r.start_ms, r.end_ms) for r in store.final_ranges([])] == [(0, 10 * MINUTE_MS)]


def test_rebuild_folds_late_trades_into_a_final_minute_and_a_dry_run_changes_nothing(store):
    store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100_000)
    start = OLD[0].minute
    found = OLD + late_trades()  # what the raw objects of the minute hold
    preview = store.rebuild(found, start, start + MINUTE_MS, dry_run=True)
    assert [new for _, new in preview.changed] == minute_rows(found)
    assert store.minute_rows()[0] == minute_rows(OLD)[0]
    done = store.rebuild(found, start, start + MINUTE_MS)
    assert (len(done.changed), done.unchanged, done.added, done.kept) == (1, 0, [], [])
    assert store.minute_rows()[0] == minute_rows(found)[0]
    assert raw_count(store) == len(LATER)  # a final minute's raw trades are not kept again


def test_rebuild_keeps_a_row_whose_trades_are_found_nowhere(store):
    store.prune(now_ms=NOW, retention_ms=RETENTION, max_rows=100_000)
    done = store.rebuild([], OLD[0].minute, OLD[0].minute + MINUTE_MS)
    assert [r.minute for r in done.kept] == [OLD[0].minute]
    assert store.minute_rows()[0] == minute_rows(OLD)[0]


# -- through the handler and the command ---------------------------------------------------------


def ndjson(trades) -> bytes:
    return b"".join(event_line(t) + b"\n" for t in trades)


def key_of(trades, name: str) -> str:
    first = minute_text(trades[0].minute).replace(" ", "T")
    return f"trades/date={first[:10]}/hour={first[11:13]}/minute={first[14:16]}/{name}.ndjson"


def test_a_late_object_through_the_handler_counts_the_late_objects_metric_and_rebuild_folds_it_in(
    configure, bucket, lambda_context, monkeypatch, capsys
):
    configure(CRYPTOTRADES_RETENTION_DAYS=16)
    db_url = handler.settings().db_url
    old = bucket.put(key_of(OLD, "old"), ndjson(OLD))
    later = bucket.put(key_of(LATER, "later"), ndjson(LATER))
    monkeypatch.setattr(handler, "now_ms", lambda: NOW)
    handler.lambda_handler(s3_event(old, later), lambda_context)  # then the retention pass
    with open_store(db_url) as target:
        assert target.is_final("BTCUSDT", OLD[0].minute) and raw_count(target) == len(LATER)
    late = bucket.put(key_of(OLD, "late"), ndjson(late_trades()))
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    capsys.readouterr()
    (summary,) = handler.lambda_handler(s3_event(late), lambda_context)["objects"]
    assert (summary["status"], summary["late"], summary["minutes"]) == ("late", 5, 0)
    emitted = [json.loads(found) for found in capsys.readouterr().out.splitlines() if '"_aws"' in found]
    assert [m.get("LateObjects") for m in emitted] == [[1.0]]  # EMF: one value, in a list
    assert emitted[0]["LateTrades"] == [5.0]
    with open_store(db_url) as target:
        assert target.minute_rows()[0] == minute_rows(OLD)[0]  # untouched by the late object

    # On purpose: rebuild the minute from the raw objects (the ledger points at all three).
    start = minute_text(OLD[0].minute).replace(" ", "T")[:16]
    end = minute_text(OLD[0].minute + MINUTE_MS).replace(" ", "T")[:16]
    endpoint = bucket.client.meta.endpoint_url
    args = ["rebuild", "--from", start, "--to", end, "--db", db_url, "--s3-endpoint", endpoint]
    assert cryptotrades([*args, "--dry-run"]) == 0
    assert "1 would change" in capsys.readouterr().out
    assert cryptotrades(args) == 0
    out = capsys.readouterr().out
    assert f"aggregate trades {len(OLD)} -> {len(OLD) + 5}" in out and "1 changed" in out
    with open_store(db_url) as target:
        assert target.minute_rows()[0] == minute_rows(OLD + late_trades())[0]


def test_rebuild_finds_objects_the_ledger_never_saw_by_their_key(aggregator, bucket, capsys):
    bucket.put(key_of(OLD, "lost-event"), ndjson(OLD))  # its event never reached the Lambda
    with open_store(aggregator) as target:
        target.ingest(ObjectRef(bucket.name, "other", "e"), LATER[:1], lines=1, rejected=0)
    start = minute_text(OLD[0].minute).replace(" ", "T")[:16]
    endpoint = bucket.client.meta.endpoint_url
    args = [
        "rebuild",
        "--from",
        start,
        "--to",
        "2026-01-01T01:00",
        "--db",
        aggregator,
        "--s3-endpoint",
        endpoint,
    ]
    assert cryptotrades(args) == 0
    assert "1 rows added" in capsys.readouterr().out
    with open_store(aggregator) as target:
        assert target.minute_rows()[0] == minute_rows(OLD)[0]
        assert raw_count(target) == len(OLD) + 1  # an open minute's raw trades are stored too


def test_prune_command_runs_the_retention_to_the_end(store, db_url, capsys):
    assert cryptotrades(["prune", "--db", db_url, "--retention-days", "16"]) == 0
    assert f"{len(OLD)} raw trades dropped" in capsys.readouterr().out
    assert raw_count(store) == len(LATER)
