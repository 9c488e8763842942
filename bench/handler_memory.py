"""The Lambda handler's peak memory and time per object, up to the largest object it accepts.

Each object is put in a real S3 API (moto's server, in this process) and handed to
``lambda_handler`` in a child process of its own, whose peak resident memory (``VmHWM``)
is what a 512 MB Lambda would see. Objects, gzip as Vector writes them:

- ``empty``: no lines, the baseline: the interpreter, boto3, Powertools, msgspec, the driver;
- ``one minute``: 3,000 real trades, a busy minute of BTC/USDT;
- ``largest accepted``: real trades up to just under the default decompressed cap (64 MiB,
  about 400,000 lines), the worst an object can cost and still be read;
- ``gzip bomb``: 1 GiB of zeros in a 1 MiB gzip (four times the cap), refused whole at the cap.

Trades are the real sample repeated with ids and times shifted
(``tests/fixtures/data.py::sample_copies``). The database is a fresh SQLite file, or with
``--mysql`` a fresh database on that server.

Run: ``.venv/bin/python bench/handler_memory.py [--mysql mysql://root@127.0.0.1:3306]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contract.pipeline import DB_URL_ENV  # noqa: E402 (after the path)
from lambda_aggregator.settings import MAX_OBJECT_BYTES, AggregatorSettings  # noqa: E402

MIB = 1024 * 1024
CAP = AggregatorSettings.__dataclass_fields__["max_object_bytes"].default  # the handler's default
BUCKET = "bench-trades"


def child(key: str, etag: str) -> None:
    """In the child: one event through the real handler; print what it cost."""
    from lambda_aggregator import handler
    from tests.fixtures.aggregator import FakeLambdaContext, s3_event

    started = time.perf_counter()
    (summary,) = handler.lambda_handler(s3_event((BUCKET, key, etag)), FakeLambdaContext())["objects"]
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak": peak_rss(), "summary": summary}))


def peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM, which starts afresh at exec (Linux's
    ru_maxrss keeps the parent's size at the fork, which here holds all the objects)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: an upper bound


def gzip_lines(lines, limit: int) -> tuple[bytes, int, int]:
    """Gzip lines until the next would pass ``limit`` decompressed bytes."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts, size, count = [], 0, 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        parts.append(packer.compress(line + b"\n"))
        size += len(line) + 1
        count += 1
    parts.append(packer.flush())
    return b"".join(parts), size, count


def objects(cap: int) -> list[tuple[str, bytes, int, int]]:
    from tests.fixtures.data import event_line, sample_copy

    def all_lines():
        copy = 0
        while True:
            yield from (event_line(trade) for trade in sample_copy(copy))
            copy += 1

    minute = [event_line(t) for t in sample_copy(0)[:3000]]
    one_minute = gzip_lines(minute, cap)
    largest = gzip_lines(all_lines(), cap - 1024)
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(zeros.compress(b"0" * (cap // 4)) for _ in range(16)) + zeros.flush()
    empty = gzip_lines([], cap)
    return [
        ("empty", empty[0], 0, 0),
        ("one minute", one_minute[0], one_minute[1], one_minute[2]),
        ("largest accepted", largest[0], largest[1], largest[2]),
        ("gzip bomb", bomb, 4 * cap, 0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql", help="a MariaDB/MySQL server URL (no database) instead of SQLite")
    parser.add_argument(
        "--cap-mib", type=int, default=CAP // MIB, help="the decompressed cap, MiB [the handler's default]"
    )
    parser.add_argument("--child", nargs=2, metavar=("KEY", "ETAG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    import boto3
    import pymysql
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    from bench.servers import mysql_params

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    built = time.perf_counter()
    cap = args.cap_mib * MIB
    cases = objects(cap)
    build_seconds = time.perf_counter() - built
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name, body, size, lines in cases:
            key = f"trades/date=2026-01-01/hour=00/minute=00/{name.replace(' ', '-')}.ndjson.gz"
            etag = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')
            database = f"ct_bench_{uuid.uuid4().hex[:10]}"
            if args.mysql:
                with pymysql.connect(**mysql_params(args.mysql)) as admin, admin.cursor() as cursor:
                    cursor.execute(f"CREATE DATABASE `{database}`")
                url = f"{args.mysql}/{database}"
            else:
                url = f"sqlite:///{folder}/{database}.db"
            from minutes.store import open_store

            with open_store(url) as store:
                store.migrate()
            try:
                done = subprocess.run(
                    [sys.executable, __file__, "--child", key, etag],
                    env={
                        **env,
                        DB_URL_ENV: url,
                        MAX_OBJECT_BYTES: str(args.cap_mib * MIB),
                    },
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=3600,
                )
            finally:
                if args.mysql:
                    with pymysql.connect(**mysql_params(args.mysql)) as admin, admin.cursor() as cursor:
                        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            results.append((name, len(body), size, lines, measured))
    server.stop()

    base = results[0][4]["peak"]
    database_kind = "MariaDB/MySQL" if args.mysql else "SQLite"
    print(
        f"bench/handler_memory.py: one child process per object, {database_kind}, moto S3; "
        f"Python {platform.python_version()}, {platform.machine()}; objects built in {build_seconds:.0f} s"
    )
    print()
    print("| object | gzip | decompressed | lines | outcome | seconds | peak RSS | vs empty object |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, packed, size, lines, measured in results:
        summary = measured["summary"]
        outcome = f"{summary['status']}, {summary['accepted']:,} trades"
        print(
            f"| {name} | {packed / MIB:,.1f} MiB | {size / MIB:,.1f} MiB | {lines:,} | {outcome} | "
            f"{measured['seconds']:,.1f} | {measured['peak'] / MIB:,.0f} MiB | "
            f"+{(measured['peak'] - base) / MIB:,.0f} MiB ({measured['peak'] / base:.2f}x) |"
        )


if __name__ == "__main__":
    main()
