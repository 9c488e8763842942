"""Benchmark: trades from a fake Binance through the producer into Kafka, beside a bare receive loop.

    .venv/bin/python bench/producer.py [--messages 100000] [--repeat 3]

Three processes per run, so that each is measured alone:

- the fake Binance (onebox.fake_binance, speed 0: it sends as fast as it is read), serving
  the 5,000 real trades of tests/data repeated with fresh agg ids up to ``--messages``;
- the measured client: either the baseline, a bare ``websockets`` receive loop that does
  nothing with the frames, or the real ``python -m producer`` (parse, sequence, produce
  idempotently with lz4 and acks=all, check every delivery report);
- this process, holding the Kafka-protocol broker (librdkafka's mock cluster) and counting
  what the topic holds.

Throughput is messages over wall-clock seconds from the first message to the last (for the
producer: confirmed in Kafka); CPU is the client process's own user+system time over the same
span, so "per core" is messages per CPU-second. Memory is the client's peak resident set.
The table prints the median run of each and the ratios to the baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402 - after the path set-up above
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from binance.events import AggTrade  # noqa: E402
from binance.files import read_trades  # noqa: E402
from contract.pipeline import KAFKA_BOOTSTRAP_ENV, TOPIC_ENV  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "BTCUSDT-aggTrades-2026-01-01_first5000rows.csv"
TICKS = os.sysconf("SC_CLK_TCK")


def market(count: int) -> list[AggTrade]:
    """The recorded trades, repeated end to end with fresh ids and times, ``count`` in all."""
    sample = read_trades(SAMPLE).trades
    span_ids = sample[-1].agg_id - sample[0].agg_id + 1
    span_ms = sample[-1].trade_time - sample[0].trade_time + 1
    trades = []
    for round_number in range(count // len(sample) + 1):
        for trade in sample:
            trades.append(
                msgspec.structs.replace(
                    trade,
                    agg_id=trade.agg_id + round_number * span_ids,
                    trade_time=trade.trade_time + round_number * span_ms,
                )
            )
            if len(trades) == count:
                return trades
    return trades


def serve_fake(pipe: Connection, count: int) -> None:
    """Child process: the fake Binance until the parent says stop."""
    from onebox.fake_binance import FakeBinance

    trades = market(count)

    async def main() -> None:
        async with FakeBinance(trades, speed=0, ping_interval=None) as fake:
            pipe.send(fake.port)
            await asyncio.to_thread(pipe.recv)

    asyncio.run(main())


def bare_receive(pipe: Connection, url: str, count: int) -> None:
    """Child process: the baseline, receiving ``count`` frames and nothing else."""
    from websockets.asyncio.client import connect

    async def main() -> tuple[float, float]:
        async with connect(url, max_queue=1024, max_size=1 << 20) as socket:
            await socket.recv(decode=False)
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(count - 1):
                await socket.recv(decode=False)
            return time.perf_counter() - start, time.process_time() - cpu

    elapsed, cpu = asyncio.run(main())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pipe.send((elapsed, cpu, peak_kb / 1024))


class FakeProcess:
    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=serve_fake, args=(child, count), daemon=True)

    def __enter__(self) -> FakeProcess:
        self._process.start()
        if not self._pipe.poll(120):
            raise RuntimeError("the fake Binance did not start within 120 s")
        self.port = self._pipe.recv()
        self.url = f"ws://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pipe.send("stop")
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()


@dataclass
class Result:
    messages: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.messages / self.cpu_seconds

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / self.messages * 1e6


def run_baseline(count: int) -> Result:
    with FakeProcess(count) as fake:
        context = multiprocessing.get_context("spawn")
        pipe, child = context.Pipe()
        url = f"{fake.url}/stream?streams=btcusdt@aggTrade"
        process = context.Process(target=bare_receive, args=(child, url, count))
        process.start()
        elapsed, cpu, peak = pipe.recv()
        process.join(30)
    return Result(count, elapsed, cpu, peak)


def topic_size(consumer: Consumer, topic: str) -> int:
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
    total = 0
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        total += high - low
    return total


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_producer(count: int, bootstrap: str, consumer: Consumer) -> Result:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    with FakeProcess(count) as fake, tempfile.TemporaryDirectory() as state_dir:
        env = {
            **os.environ,
            "CRYPTOTRADES_BINANCE_WS_URL": fake.url,
            "CRYPTOTRADES_BINANCE_REST_URL": f"http://127.0.0.1:{fake.port}",
            KAFKA_BOOTSTRAP_ENV: bootstrap,
            TOPIC_ENV: topic,
            "CRYPTOTRADES_STATE_FILE": str(Path(state_dir) / "state.json"),
            "CRYPTOTRADES_HEALTH_ADDRESS": "",
            "CRYPTOTRADES_RESUME_FROM_KAFKA": "false",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "producer", "--log-level", "WARNING"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while topic_size(consumer, topic) == 0:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the producer sent nothing: {process.stderr.read() if process.stderr else ''}"
                    )
                time.sleep(0.005)
            start, cpu = time.perf_counter(), process_cpu(process.pid)
            while (size := topic_size(consumer, topic)) < count:
                if process.poll() is not None or time.monotonic() > deadline + 600:
                    raise RuntimeError(f"the producer stopped at {size} of {count} messages")
                time.sleep(0.02)
            elapsed, used = time.perf_counter() - start, process_cpu(process.pid) - cpu
            peak = peak_rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
    return Result(count, elapsed, used, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    # The broker: librdkafka's mock cluster, alive as long as this handle is.
    holder = Producer({"test.mock.num.brokers": 1, "bootstrap.servers": "", "log_level": 3})
    broker = holder.list_topics(timeout=10).brokers[1]
    bootstrap = f"{broker.host}:{broker.port}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "log_level": 3})

    baselines, producers = [], []
    for run in range(args.repeat):
        baselines.append(run_baseline(args.messages))
        producers.append(run_producer(args.messages, bootstrap, consumer))
        base_rate, producer_rate = baselines[-1].rate, producers[-1].rate
        print(
            f"run {run + 1}: baseline {base_rate:,.0f} msg/s, producer {producer_rate:,.0f} msg/s",
            file=sys.stderr,
        )
    consumer.close()

    def median(results: list[Result]) -> Result:
        return sorted(results, key=lambda r: r.rate)[len(results) // 2]

    base, prod = median(baselines), median(producers)
    python = sys.version.split()[0]
    runs = f"median of {args.repeat} runs"
    print(f"\n{args.messages:,} messages a run, {runs}, {os.cpu_count()} cores, Python {python}\n")
    print("| client | msg/s | × baseline | msg per CPU-second | CPU µs/msg | × baseline | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, result in (
        ("baseline: bare websockets receive loop", base),
        ("producer: parse, sequence, Kafka (idempotent, lz4, acks=all)", prod),
    ):
        print(
            f"| {name} | {result.rate:,.0f} | {result.rate / base.rate:.2f} | {result.per_cpu_second:,.0f} | "
            f"{result.cpu_us_per_message:.1f} | {result.cpu_us_per_message / base.cpu_us_per_message:.2f} | "
            f"{result.peak_rss_mb:.0f} |"
        )
    spread = statistics.pstdev(r.rate for r in producers) / statistics.mean(r.rate for r in producers)
    print(f"\nproducer runs: {', '.join(f'{r.rate:,.0f}' for r in producers)} msg/s (spread {spread:.0%})")
    print(
        f"aims: >= 20,000 msg per CPU-second: {'met' if prod.per_cpu_second >= 20_000 else 'MISSED'}; "
        f"< 100 MB resident: {'met' if prod.peak_rss_mb < 100 else 'MISSED'}"
    )
    del holder


if __name__ == "__main__":
    main()
