"""The whole one-box pipeline: trades per second end to end, and how soon a minute's row appears.

Throughput: ``cryptotrades run --replay FILE --speed 0 --until-drained`` (fake Binance ->
producer -> embedded Kafka -> sink -> moto S3 -> SQS -> Lambda handler -> SQLite), timed
from the command's start to its exit, beside ``cryptotrades aggregate FILE`` of the same
file in the same run (the pure core alone: the baseline). Both are real commands in their
own processes; the pipeline's rows are checked equal to aggregate's, minute for minute.

Input: the real 5,000-trade sample (tests/data), as Binance's WebSocket lines, repeated
``--copies`` times with agg ids, trade ids and times shifted (``bench/aggregate.py``'s
``build_lines``: copy k has agg ids + 5,000k, trade ids + 100,000k, times + 13k minutes), so
every copy is a distinct stretch of trades. The table says how many copies; a real day of
BTC/USDT is about 2 million aggregate trades (400 copies).

Latency (``--latency``, about 14 minutes): the sample replayed in real time (speed 1, started
on the recording's second of the minute, as live), with the production batch of 60 s. For
each complete minute, the time from the minute's end (in replay time) until its row in the
database holds its final values.

Run: ``.venv/bin/python bench/pipeline.py [--copies N] [--latency]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.aggregate import build_lines
from binance.events import MINUTE_MS
from binance.files import read_trades
from minutes.aggregate import minute_rows, record
from minutes.store import open_store
from onebox.stats import read_stats, stats_path
from tests.fixtures.data import SAMPLE_CSV

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def cryptotrades(*args: str, timeout: float) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cryptotrades.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ENV,
        timeout=timeout,
        check=False,
    )
    return time.perf_counter() - started, result


def throughput(copies: int, work: Path) -> dict[str, object]:
    data = work / f"BTCUSDT-sample-x{copies}.ndjson"
    lines = build_lines(copies)
    data.write_bytes(b"".join(line + b"\n" for line in lines))
    trades = len(lines)

    aggregate_s, aggregated = cryptotrades("aggregate", "--format", "jsonl", str(data), timeout=3600)
    assert aggregated.returncode == 0, aggregated.stderr
    db = work / "bench.db"
    pipeline_s, ran = cryptotrades(
        "run", "--replay", str(data), "--speed", "0", "--until-drained", "--no-dashboard",
        "--state-dir", str(work / "state"), "--db", f"sqlite:///{db}",
        timeout=7200,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    with open_store(f"sqlite:///{db}") as store:
        rows = [json.loads(json.dumps(record(row))) for row in store.minute_rows()]
    expected = [json.loads(line) for line in aggregated.stdout.splitlines()]
    assert rows == expected, "the pipeline's rows differ from aggregate's"
    sink = read_stats(stats_path(work / "state", "sink")) or {}
    return {
        "trades": trades,
        "copies": copies,
        "aggregate_s": aggregate_s,
        "pipeline_s": pipeline_s,
        "objects": sink.get("objects"),
        "minutes": len(rows),
    }


def latency(work: Path) -> list[tuple[str, float]]:
    """Seconds from each complete minute's end (replay time) to its final row in the database."""
    trades = read_trades(SAMPLE_CSV).trades
    final = {row.minute: record(row) for row in minute_rows(trades)}
    last_minute = max(final)  # cut off where the file ends: it never completes in replay time
    db = work / "latency.db"
    state = work / "latency-state"
    command = [
        sys.executable, "-m", "cryptotrades.cli", "run", "--replay", str(SAMPLE_CSV), "--speed", "1",
        "--until-drained", "--no-dashboard", "--state-dir", str(state), "--db", f"sqlite:///{db}",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=ENV
    )
    seen: dict[int, float] = {}
    store = None
    try:
        while process.poll() is None and len(seen) < len(final) - 1:
            if store is None and db.exists():
                store = open_store(f"sqlite:///{db}")
            if store is not None:
                now = time.time()
                for row in store.minute_rows():
                    if row.minute not in seen and record(row) == final.get(row.minute):
                        seen[row.minute] = now
            time.sleep(0.1)
        process.wait(600)
    finally:
        if store is not None:
            store.close()
        if process.poll() is None:
            process.kill()
    replay = read_stats(stats_path(state, "replay")) or {}
    started, first = replay["started_at"], replay["first_trade_time"]
    out = []
    for minute in sorted(final):
        if minute == last_minute or minute not in seen:
            continue
        end_wall = started + (minute + MINUTE_MS - first) / 1000
        out.append((time.strftime("%H:%M", time.gmtime(minute / 1000)), seen[minute] - end_wall))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--copies", type=int, default=40, help="copies of the 5,000-trade sample (default 40)"
    )
    parser.add_argument("--latency", action="store_true", help="also replay in real time (~14 minutes)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as directory:
        work = Path(directory)
        result = throughput(args.copies, work)
        trades = result["trades"]
        agg_s, pipe_s = result["aggregate_s"], result["pipeline_s"]
        print()
        print(f"input: the real 5,000-trade sample x {result['copies']} (ids and times shifted per copy)")
        print("| what | trades | seconds | trades/s | vs aggregate |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(
            f"| `cryptotrades aggregate` (baseline) | {trades:,} | {agg_s:.1f} | "
            f"{trades / agg_s:,.0f} | 1.0 |"
        )
        print(
            f"| `cryptotrades run --replay --speed 0 --until-drained` | {trades:,} | {pipe_s:.1f} | "
            f"{trades / pipe_s:,.0f} | {pipe_s / agg_s:.1f}x the time |"
        )
        day = 2_000_000
        print(f"\nrows equal aggregate's: yes ({result['minutes']} minutes, {result['objects']} S3 objects).")
        if trades >= 100_000:  # below that, start-up and shutdown (~5 s) swamp the rate
            print(
                f"A day of ~{day:,} trades at this rate: {day / (trades / pipe_s):.0f} s end to end "
                f"(aggregate alone: {day / (trades / agg_s):.0f} s)."
            )
        if args.latency:
            print("\nminute end -> row final in the database, replaying at real time (batch 60 s):")
            print("| minute (UTC) | seconds after the minute's end |")
            print("| --- | ---: |")
            delays = latency(work)
            for minute, delay in delays:
                print(f"| {minute} | {delay:.1f} |")
            values = sorted(d for _, d in delays)
            if values:
                print(f"| median / worst | {values[len(values) // 2]:.1f} / {values[-1]:.1f} |")


if __name__ == "__main__":
    main()
