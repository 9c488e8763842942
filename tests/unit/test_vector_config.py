"""vector/vector.toml: every key against Vector's documented options, and what it must say.

The facts are Vector's generated reference (vector/reference/, provenance in its README);
the target is Vector 0.57.0, the latest release. Where a `vector` binary is installed, Vector
itself validates the file too.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest

from contract.pipeline import BUCKET_ENV, KAFKA_BOOTSTRAP_ENV, REGION_ENV, TOPIC, TRADES_PREFIX
from onebox import vector_config
from onebox.errors import VectorConfigError
from tests.fixtures import vector_reference

VECTOR_TOML = vector_config.DEFAULT_PATH
# The environment the Kafka host's systemd unit gives Vector (infra/, docs/onebox.md).
HOST_ENV = {
    KAFKA_BOOTSTRAP_ENV: "10.0.1.5:9092",
    BUCKET_ENV: "cryptotrades-tradesbucket-abc123",
    REGION_ENV: "eu-west-1",
}


@pytest.fixture(scope="module")
def reference() -> vector_reference.Reference:
    return vector_reference.load_reference()


@pytest.fixture
def config() -> dict:
    return vector_config.load(VECTOR_TOML, HOST_ENV)


def test_every_key_is_a_documented_option_of_the_target_version(config, reference):
    assert reference.version == "0.57.0"
    assert vector_reference.check(config, reference) == []


def test_the_file_uses_exactly_the_environment_the_host_provides():
    assert vector_config.environment_names(VECTOR_TOML.read_text()) == list(HOST_ENV)


def test_an_unset_variable_stops_vector_as_it_would():
    env = dict(HOST_ENV)
    del env["CRYPTOTRADES_BUCKET"]
    with pytest.raises(VectorConfigError, match="CRYPTOTRADES_BUCKET is not set"):
        vector_config.load(VECTOR_TOML, env)


def test_the_file_says_what_the_design_says(config):
    plan = vector_config.sink_plan(config)
    assert plan.topics == (TOPIC,)
    assert plan.bootstrap_servers == HOST_ENV[KAFKA_BOOTSTRAP_ENV]
    assert plan.bucket == HOST_ENV[BUCKET_ENV]
    assert plan.region == HOST_ENV[REGION_ENV]
    assert plan.auto_offset_reset == "smallest"  # lag past retention must not skip silently
    assert plan.key_prefix == f"{TRADES_PREFIX}date=%Y-%m-%d/hour=%H/minute=%M/"  # the Lambda's trigger
    assert plan.timezone == "UTC"
    assert plan.filename_append_uuid
    assert plan.filename_extension == "ndjson.gz"
    assert (plan.compression, plan.content_encoding) == ("gzip", "gzip")
    assert plan.batch_timeout_s == 60
    assert plan.acknowledgements
    assert plan.disk_buffer
    assert config["data_dir"]
    assert config["sinks"][plan.sink_id]["encoding"] == {"codec": "text"}
    assert config["sinks"][plan.sink_id]["framing"] == {"method": "newline_delimited"}
    assert config["sinks"][plan.sink_id]["buffer"]["max_size"] >= 268435488  # Vector's disk minimum


@pytest.mark.parametrize(
    ("table", "defaults"),
    [("aws_s3_sink", vector_config.SINK_DEFAULTS), ("kafka_source", vector_config.SOURCE_DEFAULTS)],
)
def test_the_sinks_copies_of_vectors_defaults_are_vectors_documented_defaults(reference, table, defaults):
    documented = {
        key: (reference.tables[table].entry(tuple(key.split("."))) or {}).get("default") for key in defaults
    }
    assert documented == defaults


def test_every_optional_setting_has_a_comment_saying_why(reference):
    """Required keys speak for themselves; any other key is there on purpose and says why."""
    tables = {"sources.binance_trades": "kafka_source", "sinks.trades_bucket": "aws_s3_sink", "": "global"}
    section = ""
    lines = VECTOR_TOML.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[] ")
            continue
        if "=" not in line or line.startswith("#"):
            continue
        key = line.split("=")[0].strip()
        facts = reference.tables[tables[section]].entry(tuple(key.split(".")))
        assert facts is not None, f"line {number + 1}: {key} is not an option"
        if facts["required"]:
            continue
        assert lines[number - 1].startswith("#"), (
            f"vector.toml line {number + 1} ({key}) has no comment above it"
        )


MUTATIONS = [
    ("unknown key", ("sinks", "trades_bucket", "compresion"), "gzip", "unknown option"),
    ("wrong type", ("sinks", "trades_bucket", "batch", "timeout_secs"), "60", "not of type float"),
    ("value outside the enum", ("sinks", "trades_bucket", "compression"), "brotli", "is not one of"),
    ("negative uint", ("sources", "binance_trades", "commit_interval_ms"), -1, "not of type uint"),
    ("a 0.58-only option", ("sources", "binance_trades", "decompression"), {"algorithm": "gzip"}, "0.58"),
    (
        "an enum value 0.57 lacks",
        ("sinks", "trades_bucket", "encoding", "metric_tag_values"),
        "auto",
        "one of",
    ),
    (
        "option of another codec",
        ("sinks", "trades_bucket", "encoding", "json"),
        {"pretty": True},
        "only applies",
    ),
    (
        "librdkafka value not a string",
        ("sources", "binance_trades", "librdkafka_options"),
        {"a.b": 1},
        "string",
    ),
    ("unknown global option", ("data_directory",), "/tmp", "unknown option"),
    ("input naming nothing", ("sinks", "trades_bucket", "inputs"), ["nothing_here"], "not a source"),
    ("component without facts", ("sources", "file_in"), {"type": "file"}, "no reference facts"),
]


@pytest.mark.parametrize(("what", "path", "value", "expected"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_the_check_finds_each_kind_of_mistake(config, reference, what, path, value, expected):
    broken = copy.deepcopy(config)
    table = broken
    for part in path[:-1]:
        table = table.setdefault(part, {})
    table[path[-1]] = value
    problems = vector_reference.check(broken, reference)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("sources", "binance_trades", "group_id"), "group_id: required"),
        (("sinks", "trades_bucket", "encoding"), "encoding: required"),
        (("sinks", "trades_bucket", "buffer", "max_size"), 'max_size: required when type = "disk"'),
    ],
)
def test_the_check_finds_missing_required_options(config, reference, path, expected):
    broken = copy.deepcopy(config)
    table = broken
    for part in path[:-1]:
        table = table[part]
    del table[path[-1]]
    assert any(expected in p for p in vector_reference.check(broken, reference))


def test_a_memory_buffer_needs_no_max_size(config, reference):
    # The generated docs mark buffer.max_size required; Vector requires it only on disk.
    config["sinks"]["trades_bucket"]["buffer"] = {"type": "memory", "max_events": 1000}
    assert vector_reference.check(config, reference) == []


def test_interpolation_follows_vectors_rules():
    env = {"SET": "x", "EMPTY": ""}
    text = "$$ ${SET} $SET ${EMPTY:-d} ${EMPTY-d} ${MISSING-d} ${MISSING:-d}"
    assert vector_config.interpolate(text, env) == "$ x x d  d d"
    with pytest.raises(VectorConfigError, match="EMPTY is required: say so"):
        vector_config.interpolate("${EMPTY:?say so}", env)


def test_vector_itself_accepts_the_file(tmp_path: Path):
    binary = shutil.which("vector")
    if binary is None:
        # Legitimate even under CI: Vector is a Rust binary that no registry this project
        # may use ships (not PyPI, not Debian's archive), and nothing may be downloaded
        # from elsewhere. The fact-table test above is the check that always runs.
        pytest.skip("no `vector` binary on PATH; the fact-table check above covers the keys")
    data_dir = tmp_path / "vector-data"
    data_dir.mkdir()
    text = VECTOR_TOML.read_text().replace('data_dir = "/var/lib/vector"', f'data_dir = "{data_dir}"')
    config_path = tmp_path / "vector.toml"
    config_path.write_text(text)
    result = subprocess.run(
        [binary, "validate", "--no-environment", "--skip-healthchecks", str(config_path)],
        env={**HOST_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
