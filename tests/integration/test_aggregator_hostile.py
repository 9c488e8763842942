"""Issue 10, case by case: hostile input through the real handler, a real S3 API (moto
server) and a real database (SQLite, then MariaDB). No input fails an object, corrupts a
row or exhausts memory; every record of an event is tried."""

from __future__ import annotations

import json
import tracemalloc
import zlib
from decimal import Decimal

import msgspec
import pytest

from binance.events import AggTrade
from cryptotrades.cli import main as cryptotrades
from lambda_aggregator import handler
from lambda_aggregator.errors import AggregatorError
from minutes.aggregate import EXACT, minute_rows, record
from minutes.store import open_store
from tests.fixtures.aggregator import eventbridge_event, load_event, s3_event
from tests.fixtures.data import event_line, sample_trades

pytestmark = pytest.mark.integration

TRADES = sample_trades()
FIRST_MINUTE = [t for t in TRADES if t.minute == TRADES[0].minute]  # 200+ real trades of one minute
KEY = "trades/date=2026-01-01/hour=00/minute=00/1767225660-0b6f.ndjson"
TOP = Decimal("999999999999.99999999")


def ndjson(trades) -> bytes:
    return b"".join(event_line(t) + b"\n" for t in trades)


def line(trade: AggTrade, **wire: object) -> bytes:
    """The trade's event line with some wire fields replaced (raw JSON bytes for a value given as bytes)."""
    obj = json.loads(event_line(trade))
    raw = {k: v for k, v in wire.items() if isinstance(v, bytes)}
    obj.update({k: v for k, v in wire.items() if not isinstance(v, bytes)})
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    for key, value in raw.items():
        text = text.replace(f'"{key}":{json.dumps(obj[key])}'.encode(), f'"{key}":'.encode() + value)
    return text


def new_trade(**changes: object) -> AggTrade:
    """A fresh trade in the first minute, with agg and trade ids no real trade uses."""
    base = msgspec.structs.replace(
        FIRST_MINUTE[5], agg_id=9_000_000_000, first_trade_id=9_000_000_000, last_trade_id=9_000_000_000
    )
    return msgspec.structs.replace(base, **changes)


def stored(db_url: str):
    with open_store(db_url) as target:
        return target.minute_rows(), target.ledger_totals()


def run(event, context):
    return handler.lambda_handler(event, context)


def quarantined(bucket, key: str = KEY) -> list[dict]:
    return [json.loads(found) for found in bucket.get(f"rejected/{key}.jsonl").splitlines()]


# -- a differently spelled symbol never touches a real row ------------------------------------


@pytest.mark.parametrize("spelling", ["btcusdt", "BTCUSDT ", "BTCÜSDT", "BtcUsdt"])
def test_a_differently_spelled_symbol_never_overwrites_a_real_row(
    aggregator, bucket, lambda_context, spelling, capsys, tmp_path
):
    run(s3_event(bucket.put(KEY, ndjson(FIRST_MINUTE))), lambda_context)
    before = stored(aggregator)[0]
    odd = line(new_trade(), s=spelling)
    (summary,) = run(s3_event(bucket.put(f"{KEY}.odd", odd + b"\n")), lambda_context)["objects"]
    assert (summary["accepted"], summary["rejected"]) == (0, 1)
    assert "is not a symbol" in quarantined(bucket, f"{KEY}.odd")[0]["reason"]
    rows, _ledger = stored(aggregator)
    assert rows == before == minute_rows(FIRST_MINUTE)
    # `cryptotrades aggregate` over the same objects agrees with the database.
    path = tmp_path / "all.ndjson"
    path.write_bytes(ndjson(FIRST_MINUTE) + odd + b"\n")
    capsys.readouterr()
    assert cryptotrades(["aggregate", "--format", "jsonl", str(path)]) == 3
    assert [json.loads(found) for found in capsys.readouterr().out.splitlines()] == [record(r) for r in rows]


def test_symbols_that_differ_only_in_case_are_distinct_keys_in_every_table(aggregator):
    """Below the contract, the database itself: binary collation, so no row replaces another."""
    upper = FIRST_MINUTE[:50]
    lower = [msgspec.structs.replace(t, symbol="BTCUSDt") for t in FIRST_MINUTE[50:51]]
    accented = [msgspec.structs.replace(t, symbol="BTCÜSDT") for t in FIRST_MINUTE[51:52]]
    from minutes.store import ObjectRef

    with open_store(aggregator) as target:
        for i, trades in enumerate((upper, lower, accented)):
            if target.dialect == "mysql" and trades is accented:
                continue  # an ASCII column refuses it outright (tested below)
            target.ingest(ObjectRef("b", f"k{i}", "e"), trades, lines=len(trades), rejected=0)
        rows = target.minute_rows()
        assert [r.symbol for r in rows if r.symbol == "BTCUSDT"] == ["BTCUSDT"]
        assert next(r for r in rows if r.symbol == "BTCUSDT") == minute_rows(upper)[0]
        assert (
            next(r for r in rows if r.symbol == "BTCUSDt").count_buy
            + next(r for r in rows if r.symbol == "BTCUSDt").count_sell
            == 1
        )


# -- one bad line never fails the object -------------------------------------------------------


def test_invalid_utf8_inside_a_string_is_quarantined_and_the_object_counts(
    aggregator, bucket, lambda_context
):
    bad = line(new_trade()).replace(b'"BTCUSDT"', b'"BTC\xff\xfeUSDT"')
    body = ndjson(FIRST_MINUTE[:100]) + bad + b"\n" + ndjson(FIRST_MINUTE[100:])
    (summary,) = run(s3_event(bucket.put(KEY, body)), lambda_context)["objects"]
    assert (summary["accepted"], summary["rejected"]) == (len(FIRST_MINUTE), 1)
    (reject,) = quarantined(bucket)
    where = bad.index(b"\xff")
    assert (reject["line"], reject["reason"]) == (101, f"not UTF-8: invalid start byte at byte {where}")
    assert stored(aggregator)[0] == minute_rows(FIRST_MINUTE)


def test_the_cli_reports_invalid_utf8_instead_of_crashing(tmp_path, capsys):
    path = tmp_path / "capture.ndjson"
    path.write_bytes(ndjson(FIRST_MINUTE[:3]) + b'{"e":"aggTrade","s":"\xff"}\n')
    assert cryptotrades(["aggregate", str(path)]) == 3
    assert f"{path}:4: not UTF-8" in capsys.readouterr().err


def test_an_aggregate_of_2_to_the_31_trades_is_quarantined_and_one_just_below_is_stored(
    aggregator, bucket, lambda_context
):
    too_many = line(new_trade(), f=1, l=2**31 + 1)
    most = new_trade(agg_id=9_000_000_001, first_trade_id=2**40, last_trade_id=2**40 + 2**31 - 1)
    (summary,) = run(s3_event(bucket.put(KEY, too_many + b"\n" + ndjson([most]))), lambda_context)["objects"]
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert "is not below 2^31" in quarantined(bucket)[0]["reason"]
    (row,) = stored(aggregator)[0]
    assert row.trades_buy + row.trades_sell == 2**31


def test_two_buys_at_the_largest_price_and_quantity_fit_their_minute_row(aggregator, bucket, lambda_context):
    buys = [
        new_trade(
            agg_id=9_000_000_000 + i, price=TOP, qty=TOP, is_buyer_maker=False, last_trade_id=9_000_000_000
        )
        for i in range(2)
    ]
    (summary,) = run(s3_event(bucket.put(KEY, ndjson(buys))), lambda_context)["objects"]
    assert (summary["accepted"], summary["rejected"], summary["minutes"]) == (2, 0, 1)
    (row,) = stored(aggregator)[0]
    assert row.usd_buy == EXACT.multiply(EXACT.multiply(TOP, TOP), 2)  # 25 digits before the point
    assert row.btc_buy == 2 * TOP


# -- nothing is clamped ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"a": 2**64}, "field a (agg_id): 18446744073709551616 is not an id"),
        ({"a": 10**30}, "is not an id"),
        ({"f": 2**64, "l": 2**64}, "is not an id"),
        ({"l": 10**30}, "is not an id"),
        ({"E": 2**63}, "is not an id"),
    ],
)
def test_ids_of_2_to_the_63_or_more_are_quarantined_never_clamped(
    aggregator, bucket, lambda_context, wire, message
):
    first = line(new_trade(), **wire)
    second = line(new_trade(agg_id=9_000_000_001), **({"a": 10**30} if "a" in wire else wire))
    (summary,) = run(
        s3_event(bucket.put(KEY, first + b"\n" + second + b"\n" + ndjson(FIRST_MINUTE))), lambda_context
    )["objects"]
    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (len(FIRST_MINUTE), 2, 0)
    assert message in quarantined(bucket)[0]["reason"]
    assert stored(aggregator)[0] == minute_rows(FIRST_MINUTE)


def test_a_21_character_symbol_is_stored_whole_with_its_own_row(aggregator, bucket, lambda_context):
    long_symbol = "ABCDEFGHIJKLMNOPQRSTU"  # 21 characters: the old VARCHAR(20) cut it to 20
    trade = new_trade(symbol=long_symbol)
    (summary,) = run(s3_event(bucket.put(KEY, ndjson([trade]))), lambda_context)["objects"]
    assert (summary["accepted"], summary["minutes"]) == (1, 1)
    rows, ledger = stored(aggregator)
    assert [r.symbol for r in rows] == [long_symbol] and ledger.accepted == 1
    thirty_two = new_trade(symbol="A" * 32, agg_id=9_000_000_002)
    run(s3_event(bucket.put(f"{KEY}.32", ndjson([thirty_two]))), lambda_context)
    assert {r.symbol for r in stored(aggregator)[0]} == {long_symbol, "A" * 32}


# -- bounded work per object ------------------------------------------------------------------------


def test_a_gzip_of_more_zeros_than_the_cap_is_rejected_whole_in_little_memory(
    configure, bucket, lambda_context
):
    configure(CRYPTOTRADES_MAX_OBJECT_BYTES=64 * 1024 * 1024)
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(zeros.compress(b"0" * (16 * 1024 * 1024)) for _ in range(16)) + zeros.flush()  # 256 MiB
    assert len(bomb) < 300_000
    obj = bucket.put(f"{KEY}.gz", bomb)
    tracemalloc.start()
    try:
        (summary,) = run(s3_event(obj), lambda_context)["objects"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["status"] == "rejected"
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    (record_,) = quarantined(bucket, f"{KEY}.gz")
    assert record_["rejected_whole"] and "more than 67108864 bytes once decompressed" in record_["reason"]
    assert len(bucket.get(f"rejected/{KEY}.gz.jsonl")) < 1000  # not a 1.6 GB quarantine object


def test_the_default_cap_is_64_mib(aggregator, bucket, lambda_context):
    zeros = zlib.compressobj(1, zlib.DEFLATED, 31)
    bomb = b"".join(zeros.compress(b"0" * (16 * 1024 * 1024)) for _ in range(5)) + zeros.flush()
    (summary,) = run(s3_event(bucket.put(f"{KEY}.gz", bomb)), lambda_context)["objects"]
    assert summary["status"] == "rejected"
    assert "more than 67108864 bytes" in quarantined(bucket, f"{KEY}.gz")[0]["reason"]


def test_an_object_of_more_lines_than_the_cap_is_rejected_whole_quickly(configure, bucket, lambda_context):
    configure(CRYPTOTRADES_MAX_OBJECT_LINES=100_000)
    (summary,) = run(s3_event(bucket.put(KEY, b"\n" * 150_000)), lambda_context)["objects"]
    assert summary["status"] == "rejected"
    assert "more than 100000 lines" in quarantined(bucket)[0]["reason"]


def test_a_line_over_the_cap_is_one_rejected_line(configure, bucket, lambda_context):
    configure(CRYPTOTRADES_MAX_LINE_BYTES=4096)
    body = ndjson(FIRST_MINUTE[:10]) + b"x" * 100_000 + b"\n" + ndjson(FIRST_MINUTE[10:])
    (summary,) = run(s3_event(bucket.put(KEY, body)), lambda_context)["objects"]
    assert (summary["accepted"], summary["rejected"]) == (len(FIRST_MINUTE), 1)
    (reject,) = quarantined(bucket)
    assert reject["line"] == 11 and "longer than the limit" in reject["reason"] and len(reject["text"]) < 1100


def test_the_quarantine_keeps_the_first_rejects_in_full_then_counts(configure, bucket, lambda_context):
    configure(CRYPTOTRADES_QUARANTINE_MAX_LINES=100)
    body = b"".join(b"junk %d\n" % i for i in range(5000)) + ndjson(FIRST_MINUTE)
    (summary,) = run(s3_event(bucket.put(KEY, body)), lambda_context)["objects"]
    assert (summary["rejected"], summary["accepted"]) == (5000, len(FIRST_MINUTE))
    found = quarantined(bucket)
    assert [r["line"] for r in found[:100]] == list(range(1, 101))
    assert found[100] == {
        "source": f"s3://{bucket.name}/{KEY}",
        "summary": True,
        "rejected": 5000,
        "kept": 100,
        "omitted": 4900,
        "first_omitted_line": 101,
        "last_omitted_line": 5000,
    }


# -- records are independent -------------------------------------------------------------------------


def test_a_failing_record_does_not_block_the_records_after_it(aggregator, bucket, lambda_context):
    first = bucket.put(f"{KEY}.1", ndjson(TRADES[:1000]))
    missing = (bucket.name, f"{KEY}.gone", "0123456789abcdef0123456789abcdef")
    last = bucket.put(f"{KEY}.3", ndjson(TRADES[1000:2000]))
    with pytest.raises(AggregatorError, match=rf"1 of 3 objects failed.*{KEY}\.gone: .*NoSuchKey"):
        run(s3_event(first, missing, last), lambda_context)
    rows, ledger = stored(aggregator)
    assert (ledger.objects, rows) == (2, minute_rows(TRADES[:2000]))
    # Lambda retries the event: the two done are no-ops, the third now exists and is read.
    body = ndjson(TRADES[2000:2100])
    etag = bucket.client.put_object(Bucket=bucket.name, Key=f"{KEY}.gone", Body=body)["ETag"].strip('"')
    result = run(s3_event(first, (bucket.name, f"{KEY}.gone", etag), last), lambda_context)
    assert [o["redelivered"] for o in result["objects"]] == [True, False, True]
    assert stored(aggregator)[0] == minute_rows(TRADES[:2100])


# -- loose input --------------------------------------------------------------------------------------


def test_every_loose_form_is_quarantined_with_its_reason_and_the_good_lines_count(
    aggregator, bucket, lambda_context
):
    t = new_trade()
    loose = [
        line(t, p="87_648.21"),
        line(t, p=" 87648.21 "),
        line(t)[:-1] + b',"q":"5.00000000"}',  # a repeated key
        line(t, s="BTC\u0000USDT"),
        line(t, s="BTC\tUSDT"),
        line(t, s="BTC🚀USDT"),
        line(t, T=86_400_000),  # 1970
        line(t, T=90_000_000_000_000),  # the year 4821
        line(t, p=b"87648.21"),  # a JSON number, not text
        line(t, x=1),  # a key Binance does not send
    ]
    body = b"\xef\xbb\xbf" + ndjson(FIRST_MINUTE[:1]) + b"\n".join(loose) + b"\n" + ndjson(FIRST_MINUTE[1:])
    (summary,) = run(s3_event(bucket.put(KEY, body)), lambda_context)["objects"]
    assert (summary["accepted"], summary["rejected"]) == (len(FIRST_MINUTE), len(loose))
    reasons = [r["reason"] for r in quarantined(bucket)]
    assert [r["line"] for r in quarantined(bucket)] == list(range(2, 2 + len(loose)))
    for reason, expected in zip(
        reasons,
        [
            "not plain decimal text",
            "not plain decimal text",
            "key 'q' appears more than once",
            "is not a symbol",
            "is not a symbol",
            "is not a symbol",
            "before 2017-07-01",
            "a day ahead of this reader's clock",
            "Expected `str`, got `float`",
            "unknown field 'x'",
        ],
        strict=True,
    ):
        assert expected in reason
    assert stored(aggregator)[0] == minute_rows(FIRST_MINUTE)  # the BOM did not cost the first trade


# -- event shapes ----------------------------------------------------------------------------------


def test_a_test_event_is_skipped(aggregator, lambda_context):
    assert run(load_event("s3_test_event.json"), lambda_context) == {
        "objects": [],
        "skipped": [{"key": None, "why": "an s3:TestEvent (sent when notifications are configured)"}],
    }


def test_an_eventbridge_object_created_event_is_processed_and_object_deleted_skipped(
    aggregator, bucket, lambda_context
):
    _, key, etag = bucket.put(KEY, ndjson(TRADES[:300]))
    (summary,) = run(eventbridge_event(bucket.name, key, etag), lambda_context)["objects"]
    assert summary["accepted"] == 300
    deleted = run(eventbridge_event(bucket.name, key, "", detail_type="Object Deleted"), lambda_context)
    assert deleted == {
        "objects": [],
        "skipped": [{"key": None, "why": "an EventBridge 'Object Deleted' event"}],
    }


def test_object_removed_records_and_quarantine_keys_are_skipped(aggregator, bucket, lambda_context):
    good = bucket.put(KEY, ndjson(TRADES[:10]))
    looping = bucket.put(f"rejected/{KEY}.jsonl", b'{"line": 1}\n')
    event = s3_event(good, good, looping)
    event["Records"][1]["eventName"] = "ObjectRemoved:Delete"
    result = run(event, lambda_context)
    assert [o["accepted"] for o in result["objects"]] == [10]
    assert [s["why"] for s in result["skipped"]] == [
        "a ObjectRemoved:Delete record",
        "a key under the quarantine prefix 'rejected/'",
    ]
    assert stored(aggregator)[1].objects == 1


def test_an_event_that_is_no_s3_event_is_skipped_not_a_key_error(aggregator, bucket, lambda_context):
    assert run({"hello": "world"}, lambda_context)["skipped"][0]["why"] == "not an S3 event (keys: hello)"
    broken = s3_event(bucket.put(KEY, ndjson(TRADES[:10])), bucket.put(f"{KEY}.2", ndjson(TRADES[10:20])))
    del broken["Records"][0]["s3"]["object"]["key"]
    result = run(broken, lambda_context)
    assert result["skipped"] == [
        {"key": None, "why": "a record without 'key' (not an S3 notification record)"}
    ]
    assert [o["accepted"] for o in result["objects"]] == [10]


def test_an_object_overwritten_before_its_event_is_skipped_and_its_new_version_counts(
    aggregator, bucket, lambda_context
):
    old = bucket.put(KEY, ndjson(TRADES[:100]))
    new = bucket.put(KEY, ndjson(TRADES[100:300]))  # overwritten before the first event is handled
    first = run(s3_event(old), lambda_context)
    assert first["objects"] == [] and "changed after its event" in first["skipped"][0]["why"]
    (summary,) = run(s3_event(new), lambda_context)["objects"]
    assert (summary["etag"], summary["accepted"]) == (new[2], 200)
    rows, ledger = stored(aggregator)
    assert (rows, ledger.objects) == (minute_rows(TRADES[100:300]), 1)  # ledger and content agree
