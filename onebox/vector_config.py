"""``vector/vector.toml``, read the way Vector reads it, and what the one-box sink takes from it.

The one-box sink (``onebox/sink.py``) has no settings of its own for topic, group, bucket,
key layout, batching, compression or encoding: it takes them from the production file,
so the one-box pipeline and the deployed Vector cannot drift apart. Anything in the file
that the sink cannot reproduce faithfully is refused with the key that asks for it.

Pure: text and an environment in, plain values out.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onebox.errors import VectorConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT / "vector" / "vector.toml"
REFERENCE_DIR = REPO_ROOT / "vector" / "reference"

# Vector's interpolation syntax (its config loader): $$ is a dollar sign; $NAME and ${NAME};
# ${NAME:-default} (unset or empty), ${NAME-default} (unset); ${NAME:?message} and
# ${NAME?message} make a missing value an error with that message.
_REFERENCE = re.compile(
    r"\$(?:(?P<dollar>\$)|(?P<bare>[A-Za-z0-9_]+)|"
    r"\{(?P<name>[A-Za-z0-9_]+)(?:(?P<operator>:-|-|:\?|\?)(?P<argument>[^}]*))?\})"
)

# What Vector documents as the defaults of the aws_s3 sink and kafka source options the sink uses
# (vector/reference/*.json, which tests/unit/test_vector_config.py checks these against); the file
# may leave any of them out.
SINK_DEFAULTS: dict[str, Any] = {
    "key_prefix": "date=%F",
    "filename_time_format": "%s",
    "filename_append_uuid": True,
    "compression": "gzip",
    "batch.timeout_secs": 300.0,
    "batch.max_bytes": 10_000_000,
}
SOURCE_DEFAULTS: dict[str, Any] = {
    "auto_offset_reset": "largest",
    "commit_interval_ms": 5000,
    "fetch_wait_max_ms": 100,
    "decoding.codec": "bytes",
}
# Vector names the file extension after the compression when filename_extension is unset.
_COMPRESSION_EXTENSIONS = {"gzip": "log.gz", "none": "log"}
_CONTENT_ENCODINGS = {"gzip": "gzip", "none": None}
# strftime conversions that chrono (Vector) and Python spell alike. %s is done by hand:
# Python hands it to the C library, which reads the time as local.
_STRFTIME_SAFE = set("YCymbBhdejaAuwHIklMSpFTDRrnt%UVGgz")
_CONVERSION = re.compile(r"%(.)")


@dataclass(frozen=True, slots=True)
class SinkPlan:
    """Everything the one-box sink does, as the production file says it."""

    source_id: str
    sink_id: str
    bootstrap_servers: str
    topics: tuple[str, ...]
    group_id: str
    auto_offset_reset: str
    commit_interval_ms: int
    fetch_wait_max_ms: int
    bucket: str
    region: str | None
    key_prefix: str
    timezone: str
    filename_time_format: str
    filename_append_uuid: bool
    filename_extension: str
    compression: str  # "gzip" or "none"
    content_type: str | None
    content_encoding: str | None
    batch_timeout_s: float
    batch_max_bytes: int
    batch_max_events: int | None
    acknowledgements: bool
    disk_buffer: bool


def interpolate(text: str, env: Mapping[str, str], *, where: str = "vector.toml") -> str:
    """Substitute environment references in the whole text, comments included, as Vector does."""

    def substitute(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        name = match["bare"] or match["name"]
        operator, argument = match["operator"], match["argument"] or ""
        value = env.get(name)
        if operator == ":-":
            return value if value else argument
        if operator == "-":
            return argument if value is None else value
        if operator in (":?", "?") and (value is None or (operator == ":?" and not value)):
            raise VectorConfigError(f"{where}: environment variable {name} is required: {argument}")
        if value is None:
            raise VectorConfigError(f"{where}: environment variable {name} is not set")
        return value

    return _REFERENCE.sub(substitute, text)


def environment_names(text: str) -> list[str]:
    """The environment variables the text refers to, in order of first use."""
    names: list[str] = []
    for match in _REFERENCE.finditer(text):
        name = match["bare"] or match["name"]
        if name and name not in names:
            names.append(name)
    return names


def parse(text: str, env: Mapping[str, str], *, where: str = "vector.toml") -> dict[str, Any]:
    """The configuration as Vector sees it: interpolated, then parsed as TOML."""
    try:
        return tomllib.loads(interpolate(text, env, where=where))
    except tomllib.TOMLDecodeError as exc:
        raise VectorConfigError(f"{where}: not valid TOML: {exc}") from exc


def load(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VectorConfigError(f"cannot read the Vector configuration {path}: {exc}") from exc
    return parse(text, env, where=str(path))


def sink_plan(config: Mapping[str, Any], *, where: str = "vector.toml") -> SinkPlan:
    """What the one-box sink must do: the one aws_s3 sink fed by the one kafka source."""
    sources = {k: v for k, v in config.get("sources", {}).items() if v.get("type") == "kafka"}
    sinks = {k: v for k, v in config.get("sinks", {}).items() if v.get("type") == "aws_s3"}
    if len(sources) != 1 or len(sinks) != 1:
        raise VectorConfigError(
            f"{where}: expected one kafka source and one aws_s3 sink, found "
            f"{len(sources)} and {len(sinks)}: the one-box sink reproduces exactly that pipeline"
        )
    ((source_id, source),) = sources.items()
    ((sink_id, sink),) = sinks.items()
    if sink.get("inputs") != [source_id]:
        raise VectorConfigError(
            f"{where}: sinks.{sink_id}.inputs is {sink.get('inputs')!r}; expected [{source_id!r}] "
            "(no transforms between the source and the sink)"
        )
    get_source = _getter(source, SOURCE_DEFAULTS)
    get_sink = _getter(sink, SINK_DEFAULTS)

    def refuse(key: str, value: Any, supported: str) -> VectorConfigError:
        return VectorConfigError(f"{where}: {key} = {value!r}: the one-box sink supports {supported}")

    if get_source("decoding.codec") != "bytes":
        raise refuse(f"sources.{source_id}.decoding.codec", get_source("decoding.codec"), '"bytes"')
    codec = get_sink("encoding.codec")
    if codec != "text":
        raise refuse(f"sinks.{sink_id}.encoding.codec", codec, '"text" (the raw message, one a line)')
    framing = get_sink("framing.method") or "newline_delimited"
    if framing != "newline_delimited":
        raise refuse(f"sinks.{sink_id}.framing.method", framing, '"newline_delimited"')
    compression = get_sink("compression")
    if compression not in _COMPRESSION_EXTENSIONS:
        raise refuse(f"sinks.{sink_id}.compression", compression, '"gzip" or "none"')
    for key in ("key_prefix", "filename_time_format"):
        check_strftime(get_sink(key), f"sinks.{sink_id}.{key}")
    ack = get_sink("acknowledgements.enabled")
    if ack is None:
        ack = _dig(config, "acknowledgements.enabled") or False
    max_events = get_sink("batch.max_events")
    return SinkPlan(
        source_id=source_id,
        sink_id=sink_id,
        bootstrap_servers=str(get_source("bootstrap_servers")),
        topics=tuple(get_source("topics") or ()),
        group_id=str(get_source("group_id")),
        auto_offset_reset=str(get_source("auto_offset_reset")),
        commit_interval_ms=int(get_source("commit_interval_ms")),
        fetch_wait_max_ms=int(get_source("fetch_wait_max_ms")),
        bucket=str(get_sink("bucket")),
        region=get_sink("region"),
        key_prefix=str(get_sink("key_prefix")),
        timezone=str(get_sink("timezone") or config.get("timezone") or "local"),
        filename_time_format=str(get_sink("filename_time_format")),
        filename_append_uuid=bool(get_sink("filename_append_uuid")),
        filename_extension=str(get_sink("filename_extension") or _COMPRESSION_EXTENSIONS[compression]),
        compression=compression,
        content_type=get_sink("content_type"),
        content_encoding=get_sink("content_encoding") or _CONTENT_ENCODINGS[compression],
        batch_timeout_s=float(get_sink("batch.timeout_secs")),
        batch_max_bytes=int(get_sink("batch.max_bytes")),
        batch_max_events=int(max_events) if max_events is not None else None,
        acknowledgements=bool(ack),
        disk_buffer=get_sink("buffer.type") == "disk",
    )


def check_strftime(template: str, key: str) -> None:
    """Refuse what the one-box sink would render differently from Vector (chrono's strftime)."""
    if "{{" in template:
        raise VectorConfigError(
            f"{key} = {template!r}: event field templates ({{{{ field }}}}) are not supported by the "
            "one-box sink; only strftime conversions are"
        )
    for match in _CONVERSION.finditer(template.replace("%%", "")):
        if match[1] != "s" and match[1] not in _STRFTIME_SAFE:
            raise VectorConfigError(
                f"{key} = {template!r}: the conversion %{match[1]} is not one the one-box sink "
                "renders exactly as Vector does"
            )


def _getter(table: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    def get(path: str) -> Any:
        value = _dig(table, path)
        return defaults.get(path) if value is None else value

    return get


def _dig(table: Mapping[str, Any], path: str) -> Any:
    """``a.b`` of a nested table; None where any part is missing."""
    value: Any = table
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
