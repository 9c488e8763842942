"""The sink's pure core: batching as Vector's aws_s3 sink does, keys, bodies, safe commits."""

from __future__ import annotations

import gzip
import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance.files import parse_ndjson
from onebox import vector_config
from onebox.batches import Batcher, KeyRenderer, body, commit_positions, strftime
from onebox.errors import VectorConfigError
from tests.fixtures.data import sample_ndjson_lines

ENV = {
    "CRYPTOTRADES_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "CRYPTOTRADES_BUCKET": "b",
    "AWS_REGION": "eu-west-1",
}
TOPIC = "cryptotrades"


@pytest.fixture(scope="module")
def plan() -> vector_config.SinkPlan:
    return vector_config.sink_plan(vector_config.load(vector_config.DEFAULT_PATH, ENV))


def test_a_batch_closes_when_it_reaches_max_events():
    batcher = Batcher(timeout_s=60, max_bytes=10_000_000, max_events=3)
    assert batcher.add("p/", b"a", (TOPIC, 0), 10, now=0.0) is None
    assert batcher.add("p/", b"b", (TOPIC, 0), 11, now=0.1) is None
    full = batcher.add("p/", b"c", (TOPIC, 0), 12, now=0.2)
    assert full is not None and full.lines == [b"a", b"b", b"c"]
    assert full.first_offsets == {(TOPIC, 0): 10} and full.next_offsets == {(TOPIC, 0): 13}
    assert batcher.open == {}


def test_a_batch_closes_when_it_reaches_max_bytes():
    batcher = Batcher(timeout_s=60, max_bytes=10, max_events=None)
    assert batcher.add("p/", b"12345678", (TOPIC, 0), 0, now=0.0) is None  # 9 bytes with its newline
    assert batcher.add("p/", b"9", (TOPIC, 0), 1, now=0.0) is not None  # 11


def test_each_prefix_has_its_own_batch_and_its_own_timeout():
    batcher = Batcher(timeout_s=60, max_bytes=10_000_000, max_events=None)
    batcher.add("minute=00/", b"a", (TOPIC, 0), 0, now=0.0)
    batcher.add("minute=01/", b"b", (TOPIC, 0), 1, now=30.0)
    assert batcher.next_deadline() == 60.0
    assert batcher.due(59.9) == []
    (first,) = batcher.due(60.0)
    assert first.prefix == "minute=00/"
    assert [b.prefix for b in batcher.close_all()] == ["minute=01/"]


def test_nothing_is_committed_past_a_record_that_is_not_stored():
    consumed = {(TOPIC, 0): 100, (TOPIC, 1): 50}
    open_batch = {(TOPIC, 0): 40}  # records 40.. of partition 0 are still waiting
    assert commit_positions(consumed, [open_batch]) == {(TOPIC, 0): 40, (TOPIC, 1): 50}
    assert commit_positions(consumed, []) == consumed


@settings(max_examples=200, deadline=None)
@given(
    partitions=st.lists(st.integers(0, 2), min_size=1, max_size=60),
    prefixes=st.lists(st.sampled_from(["a/", "b/", "c/"]), min_size=60, max_size=60),
    stored_share=st.floats(0, 1),
)
def test_every_record_below_a_committed_offset_is_stored(partitions, prefixes, stored_share):
    """However records interleave and whichever batches are stored, a commit never skips one."""
    batcher = Batcher(timeout_s=60, max_bytes=10_000_000, max_events=4)
    offsets: dict[int, int] = {}
    consumed: dict[tuple[str, int], int] = {}
    stored: set[tuple[int, int]] = set()
    closed = []
    for partition, prefix in zip(partitions, prefixes, strict=False):
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        consumed[(TOPIC, partition)] = offset + 1
        full = batcher.add(prefix, f"{partition}:{offset}".encode(), (TOPIC, partition), offset, now=0.0)
        if full is not None:
            closed.append(full)
    keep = closed[: int(len(closed) * stored_share)]  # these reached S3; the rest are lost in a crash
    for batch in keep:
        for line in batch.lines:
            partition, offset = map(int, line.split(b":"))
            stored.add((partition, offset))
    unstored = [b.first_offsets for b in closed[len(keep) :]] + [
        b.first_offsets for b in batcher.open.values()
    ]
    for (_, partition), position in commit_positions(consumed, unstored).items():
        assert all((partition, offset) in stored for offset in range(position))


def test_keys_follow_the_design_layout_in_utc(plan):
    keys = KeyRenderer(plan)
    trade_time_ms = 1767225659999  # 2026-01-01 00:00:59.999 UTC
    prefix = keys.prefix(trade_time_ms)
    assert prefix == "trades/date=2026-01-01/hour=00/minute=00/"
    assert keys.prefix(trade_time_ms + 1) == "trades/date=2026-01-01/hour=00/minute=01/"
    token = uuid.UUID("12345678-1234-5678-1234-567812345678")
    key = keys.key(prefix, 1767225663.7, token)
    assert key == f"{prefix}1767225663-12345678-1234-5678-1234-567812345678.ndjson.gz"
    assert re.fullmatch(r"[A-Za-z0-9=/._-]+", key)  # URL-safe, as the design asks


def test_strftime_renders_epoch_seconds_in_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    assert strftime("%s|%%s|%H", 1767225600, UTC) == "1767225600|%s|00"
    assert strftime("%F", 1767225600, UTC) == datetime(2026, 1, 1, tzinfo=UTC).strftime("%Y-%m-%d")


def test_the_body_is_the_records_one_a_line_and_the_aggregator_reads_it_back():
    lines = sample_ndjson_lines()[:500]
    data = body(lines, "gzip")
    assert gzip.decompress(data) == b"".join(line + b"\n" for line in lines)
    parsed = parse_ndjson(gzip.decompress(data))
    assert len(parsed.trades) == 500 and parsed.rejects == []
    assert body(lines[:2], "none") == lines[0] + b"\n" + lines[1] + b"\n"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("encoding.codec", "json", '"text"'),
        ("key_prefix", "trades/{{ symbol }}/", "templates"),
        ("filename_time_format", "%s%.3f", "conversion %."),
        ("compression", "zstd", '"gzip" or "none"'),
    ],
)
def test_the_sink_refuses_what_it_cannot_do_as_vector_does(key, value, message):
    config = vector_config.load(vector_config.DEFAULT_PATH, ENV)
    table = config["sinks"]["trades_bucket"]
    *parents, last = key.split(".")
    for part in parents:
        table = table[part]
    table[last] = value
    with pytest.raises(VectorConfigError, match=re.escape(message)):
        vector_config.sink_plan(config)
