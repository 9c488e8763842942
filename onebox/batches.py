"""The sink's pure core: Kafka records -> per-prefix batches -> object keys and bodies, and
which Kafka offsets are safe to commit.

It does what Vector's ``aws_s3`` sink does with the settings of ``vector.toml``: a record
goes to the batch of its key prefix (strftime of the record's timestamp); a batch is
flushed when it reaches ``max_events`` or ``max_bytes`` or is ``timeout`` old; its object
key is ``<prefix><upload time>-<uuid>.<extension>``; its body is the records' values, one
a line, compressed. An offset is committed only when every record before it in its
partition is stored, so a crash replays from the first record not known to be in S3.

No I/O here: clocks, uuids and records come in as arguments.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from onebox.vector_config import SinkPlan

# Vector's gzip "default" level.
GZIP_LEVEL = 6

Slot = tuple[str, int]  # a Kafka topic and partition


@dataclass(slots=True)
class Batch:
    """Records of one key prefix, waiting to become one object."""

    prefix: str
    opened: float  # monotonic seconds when its first record arrived
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    first_offsets: dict[Slot, int] = field(default_factory=dict)  # lowest offset of each partition
    next_offsets: dict[Slot, int] = field(default_factory=dict)  # highest offset + 1


class Batcher:
    """Open batches by prefix; answers the batches that are ready to store."""

    def __init__(self, *, timeout_s: float, max_bytes: int, max_events: int | None) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.open: dict[str, Batch] = {}

    def add(self, prefix: str, value: bytes, slot: Slot, offset: int, now: float) -> Batch | None:
        """Add one record; answer its batch if that batch is now full (it is then closed)."""
        batch = self.open.get(prefix)
        if batch is None:
            batch = self.open[prefix] = Batch(prefix, now)
        batch.lines.append(value)
        batch.size += len(value) + 1
        batch.first_offsets.setdefault(slot, offset)
        batch.next_offsets[slot] = offset + 1
        if batch.size >= self.max_bytes or (
            self.max_events is not None and len(batch.lines) >= self.max_events
        ):
            return self.open.pop(prefix)
        return None

    def due(self, now: float) -> list[Batch]:
        """Close and answer the batches that have been open for the timeout."""
        ready = [b for b in self.open.values() if now - b.opened >= self.timeout_s]
        for batch in ready:
            del self.open[batch.prefix]
        return ready

    def close_all(self) -> list[Batch]:
        """Close every open batch (a drain or a shutdown), oldest first."""
        ready = sorted(self.open.values(), key=lambda b: b.opened)
        self.open.clear()
        return ready

    def next_deadline(self) -> float | None:
        return min((b.opened + self.timeout_s for b in self.open.values()), default=None)

    @property
    def pending_records(self) -> int:
        return sum(len(b.lines) for b in self.open.values())


def commit_positions(consumed: Mapping[Slot, int], unstored: Iterable[Mapping[Slot, int]]) -> dict[Slot, int]:
    """The offset to commit for each partition: the first record not yet stored.

    ``consumed`` is each partition's next offset to read; ``unstored`` holds the
    ``first_offsets`` of every batch not yet in S3 (open, or being stored).
    """
    positions = dict(consumed)
    for first_offsets in unstored:
        for slot, offset in first_offsets.items():
            if offset < positions.get(slot, offset + 1):
                positions[slot] = offset
    return positions


class KeyRenderer:
    """Object keys as Vector's aws_s3 sink makes them."""

    def __init__(self, plan: SinkPlan) -> None:
        self.plan = plan
        self.zone = _zone(plan.timezone)
        self._memo_second: int | None = None
        self._memo_prefix = ""

    def prefix(self, timestamp_ms: int) -> str:
        """The key prefix of a record: strftime of its timestamp in the sink's time zone."""
        second = timestamp_ms // 1000
        if second != self._memo_second:  # records come in bursts of one second
            self._memo_second = second
            self._memo_prefix = strftime(self.plan.key_prefix, second, self.zone)
        return self._memo_prefix

    def key(self, prefix: str, upload_time_s: float, token: uuid.UUID) -> str:
        name = strftime(self.plan.filename_time_format, int(upload_time_s), self.zone)
        if self.plan.filename_append_uuid:
            name = f"{name}-{token}"
        return f"{prefix}{name}.{self.plan.filename_extension}"


def body(lines: list[bytes], compression: str) -> bytes:
    """The object's bytes: newline-delimited records, compressed as configured."""
    data = b"".join(line + b"\n" for line in lines)
    if compression == "gzip":
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    return data


def strftime(template: str, epoch_s: int, zone: tzinfo | None) -> str:
    """chrono-compatible strftime for the conversions ``vector_config.check_strftime`` allows."""
    moment = datetime.fromtimestamp(epoch_s, tz=zone) if zone else datetime.fromtimestamp(epoch_s)
    if "%s" in template:
        # %s is the epoch seconds; %%s is a literal "%s" and must survive.
        parts = template.split("%%")
        template = "%%".join(part.replace("%s", str(epoch_s)) for part in parts)
    return moment.strftime(template)


def _zone(name: str) -> tzinfo | None:
    """None means the host's local zone (Vector's "local")."""
    if name == "local":
        return None
    return ZoneInfo(name)
