"""The Kafka host's scripts: shellcheck, and the configuration they render, run into a temp dir.

render-config.sh is pure text and runs here as it runs on the host. create-topic.sh talks to
Kafka's CLI tools, which cannot run here (no Kafka distribution is installable on this
machine): stand-in ``kafka-topics.sh``/``kafka-configs.sh`` scripts record the calls instead,
and the test checks those calls. install.sh has its own file (test_infra_install.py).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from infra.kafka_host import HOST_PYTHON, RELEASE_DIR
from producer.settings import OPTIONS, ProducerSettings
from tests.fixtures.infra import CONFIGURATIONS, REPO_ROOT, Synth, flatten
from tests.fixtures.servers import missing_server

HOST = REPO_ROOT / "infra" / "host"
VECTOR_TOML = REPO_ROOT / "vector" / "vector.toml"
EC2_ENV = {
    "CRYPTOTRADES_KAFKA_MODE": "ec2",
    "CRYPTOTRADES_KAFKA_BOOTSTRAP": "10.40.0.12:9092",
    "CRYPTOTRADES_KAFKA_HOST": "10.40.0.12",
    "CRYPTOTRADES_KAFKA_DATA_DIR": "/var/lib/kafka/data",
    "CRYPTOTRADES_KAFKA_HEAP": "512m",
    "CRYPTOTRADES_TOPIC": "cryptotrades",
    "CRYPTOTRADES_TOPIC_PARTITIONS": "1",
    "CRYPTOTRADES_TOPIC_REPLICATION": "1",
    "CRYPTOTRADES_TOPIC_RETENTION_MS": "300000",
    "CRYPTOTRADES_TOPIC_SEGMENT_MS": "60000",
    "CRYPTOTRADES_BUCKET": "cryptotrades-tradesbucket-1a2b3c",
    "CRYPTOTRADES_VECTOR_TOML": str(VECTOR_TOML),
    "AWS_REGION": "eu-west-1",
}
MSK_ENV = {
    key: value
    for key, value in EC2_ENV.items()
    if key not in ("CRYPTOTRADES_KAFKA_HOST", "CRYPTOTRADES_KAFKA_DATA_DIR", "CRYPTOTRADES_KAFKA_HEAP")
} | {
    "CRYPTOTRADES_KAFKA_MODE": "msk",
    "CRYPTOTRADES_KAFKA_BOOTSTRAP": "b-1.msk.example:9094,b-2.msk.example:9094",
    "CRYPTOTRADES_TOPIC_REPLICATION": "2",
}


def shell_env(values: dict[str, str]) -> dict[str, str]:
    """A minimal environment: PATH and the given values, nothing inherited by accident."""
    return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **values}


def render(root: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(HOST / "render-config.sh"), str(root)],
        env=shell_env(values),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def properties(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return dict(pairs)


def env_file(path: Path) -> dict[str, str]:
    return properties(path)


@pytest.fixture
def shellcheck() -> str:
    path = shutil.which("shellcheck")
    if path is None:
        missing_server("shellcheck (Debian package `shellcheck`; .ci/run installs it)")
    return str(path)


# --- shellcheck -----------------------------------------------------------------------------


def test_every_host_script_passes_shellcheck(shellcheck: str) -> None:
    scripts = sorted(HOST.glob("*.sh"))
    assert {p.name for p in scripts} >= {"install.sh", "render-config.sh", "create-topic.sh", "lib.sh"}
    result = subprocess.run(
        [shellcheck, "--external-sources", "--severity=style", *map(str, scripts)],
        cwd=HOST,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_the_user_data_passes_shellcheck(
    configuration: str, shellcheck: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    synth: Synth = request.getfixturevalue(configuration)
    (_, instance) = synth.one("AWS::EC2::Instance")
    script = tmp_path / "user-data.sh"
    # CloudFormation fills in the tokens (bucket name, ARNs); a word stands in for each.
    script.write_text(flatten(instance["Properties"]["UserData"]))
    result = subprocess.run(
        [shellcheck, "--severity=style", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


# --- render-config.sh, on the EC2 broker ----------------------------------------------------


@pytest.fixture
def ec2_root(tmp_path: Path) -> Path:
    result = render(tmp_path, EC2_ENV)
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_server_properties_make_a_single_kraft_node_with_data_off_tmp(ec2_root: Path) -> None:
    server = properties(ec2_root / "etc/kafka/server.properties")
    assert server["process.roles"] == "broker,controller"
    assert server["controller.quorum.voters"] == f"{server['node.id']}@127.0.0.1:9093"
    assert server["advertised.listeners"] == "PLAINTEXT://10.40.0.12:9092"
    assert server["listeners"] == "PLAINTEXT://10.40.0.12:9092,CONTROLLER://127.0.0.1:9093"
    assert server["log.dirs"] == "/var/lib/kafka/data" and not server["log.dirs"].startswith("/tmp")
    assert server["auto.create.topics.enable"] == "false"
    assert server["offsets.topic.replication.factor"] == "1"
    # Retention holds to the minute only if the checker runs often and segments roll early.
    assert int(server["log.retention.check.interval.ms"]) <= 60_000
    assert server["log.retention.ms"] == "300000"
    assert server["log.roll.ms"] == "60000"
    assert env_file(ec2_root / "etc/cryptotrades/kafka.env")["KAFKA_HEAP_OPTS"] == '"-Xms512m -Xmx512m"'


def test_the_topic_settings_keep_five_minutes(ec2_root: Path) -> None:
    topic = properties(ec2_root / "etc/cryptotrades/topic.properties")
    assert topic == {"retention.ms": "300000", "segment.ms": "60000", "cleanup.policy": "delete"}
    assert env_file(ec2_root / "etc/cryptotrades/topic.env") == {
        "CRYPTOTRADES_KAFKA_BOOTSTRAP": "10.40.0.12:9092",
        "CRYPTOTRADES_TOPIC": "cryptotrades",
        "CRYPTOTRADES_TOPIC_PARTITIONS": "1",
        "CRYPTOTRADES_TOPIC_REPLICATION": "1",
    }
    assert properties(ec2_root / "etc/cryptotrades/client.properties") == {"security.protocol": "PLAINTEXT"}


def test_vector_gets_exactly_the_variables_its_config_reads(ec2_root: Path) -> None:
    referenced = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", VECTOR_TOML.read_text()))
    vector_env = env_file(ec2_root / "etc/cryptotrades/vector.env")
    assert (
        set(vector_env) == referenced == {"CRYPTOTRADES_KAFKA_BOOTSTRAP", "CRYPTOTRADES_BUCKET", "AWS_REGION"}
    )
    assert vector_env["CRYPTOTRADES_BUCKET"] == EC2_ENV["CRYPTOTRADES_BUCKET"]
    # On the host's own broker the config is the repo's, byte for byte.
    assert (ec2_root / "etc/cryptotrades/vector.toml").read_bytes() == VECTOR_TOML.read_bytes()


def test_the_producer_env_file_is_valid_producer_settings(ec2_root: Path) -> None:
    producer_env = env_file(ec2_root / "etc/cryptotrades/producer.env")
    known = {option.env for option in OPTIONS}
    assert set(producer_env) <= known, set(producer_env) - known
    settings = ProducerSettings.from_env(producer_env)
    assert settings.kafka_bootstrap == "10.40.0.12:9092"
    assert settings.topic == "cryptotrades"
    assert settings.kafka_options == ()


def test_rendering_twice_gives_the_same_files(
    ec2_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = tmp_path_factory.mktemp("again")
    assert render(again, EC2_ENV).returncode == 0

    def digest(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*")
            if p.is_file()
        }

    assert digest(ec2_root) == digest(again)
    assert render(ec2_root, EC2_ENV).returncode == 0  # over existing files
    assert digest(ec2_root) == digest(again)
    assert not [p for p in ec2_root.rglob("*.??????")], "a temp file was left behind"


# --- render-config.sh, on MSK ---------------------------------------------------------------


@pytest.fixture
def msk_root(tmp_path: Path) -> Path:
    result = render(tmp_path, MSK_ENV)
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_on_msk_there_is_no_broker_config_and_clients_use_tls(msk_root: Path) -> None:
    assert not (msk_root / "etc/kafka").exists()
    assert not (msk_root / "etc/cryptotrades/kafka.env").exists()
    assert properties(msk_root / "etc/cryptotrades/client.properties") == {"security.protocol": "SSL"}
    assert env_file(msk_root / "etc/cryptotrades/topic.env")["CRYPTOTRADES_TOPIC_REPLICATION"] == "2"


def test_on_msk_vector_config_adds_tls_and_changes_nothing_else(msk_root: Path) -> None:
    original = tomllib.loads(VECTOR_TOML.read_text())
    rendered = tomllib.loads((msk_root / "etc/cryptotrades/vector.toml").read_text())
    tls = rendered["sources"]["binance_trades"].pop("tls")
    assert tls == {"enabled": True, "ca_file": "/etc/pki/tls/certs/ca-bundle.crt"}
    assert rendered == original


def test_on_msk_the_producer_speaks_tls(msk_root: Path) -> None:
    settings = ProducerSettings.from_env(env_file(msk_root / "etc/cryptotrades/producer.env"))
    assert dict(settings.kafka_options) == {
        "security.protocol": "ssl",
        "ssl.ca.location": "/etc/pki/tls/certs/ca-bundle.crt",
    }
    assert settings.kafka_bootstrap == MSK_ENV["CRYPTOTRADES_KAFKA_BOOTSTRAP"]


# --- render-config.sh refuses bad input ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CRYPTOTRADES_BUCKET": ""}, "CRYPTOTRADES_BUCKET is not set"),
        (
            {"CRYPTOTRADES_TOPIC_RETENTION_MS": "5min"},
            "CRYPTOTRADES_TOPIC_RETENTION_MS=5min is not a whole number",
        ),
        ({"CRYPTOTRADES_TOPIC_SEGMENT_MS": "300000"}, "must be below CRYPTOTRADES_TOPIC_RETENTION_MS=300000"),
        ({"CRYPTOTRADES_KAFKA_MODE": "kinesis"}, "CRYPTOTRADES_KAFKA_MODE=kinesis: expected ec2 or msk"),
        ({"CRYPTOTRADES_KAFKA_HOST": ""}, "CRYPTOTRADES_KAFKA_HOST is not set"),
        ({"CRYPTOTRADES_VECTOR_TOML": "/nonexistent/vector.toml"}, "is not a readable file"),
    ],
)
def test_bad_settings_stop_the_render_naming_the_variable(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    result = render(tmp_path, EC2_ENV | change)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "etc/cryptotrades/vector.env").exists(), "nothing half-rendered"


# --- create-topic.sh, against stand-ins for Kafka's CLI tools ------------------------------

STUB = """#!/usr/bin/env bash
# Stand-in for a Kafka CLI tool: records its arguments; fails the first $FAIL_LISTS --list calls.
printf '%s %s\\n' "$(basename "$0")" "$*" >>"$CALLS"
if [[ " $* " == *" --list "* ]]; then
  count=$(( $(cat "$CALLS.lists" 2>/dev/null || echo 0) + 1 ))
  echo "$count" >"$CALLS.lists"
  [ "$count" -gt "${FAIL_LISTS:-0}" ] || exit 1
fi
"""


@pytest.fixture
def kafka_home(tmp_path: Path, ec2_root: Path) -> Path:
    home = tmp_path / "kafka"
    (home / "bin").mkdir(parents=True)
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        (home / "bin" / tool).write_text(STUB)
        (home / "bin" / tool).chmod(0o755)
    return home


def create_topic(
    kafka_home: Path, conf: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = kafka_home / "calls.log"
    values = env_file(conf / "topic.env") | {
        "KAFKA_HOME": str(kafka_home),
        "CRYPTOTRADES_CONF_DIR": str(conf),
        "CRYPTOTRADES_TOPIC_POLL_SECONDS": "0",
        "CALLS": str(calls),
        **extra,
    }
    result = subprocess.run(
        ["bash", str(HOST / "create-topic.sh")],
        env=shell_env(values),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_create_topic_waits_for_the_broker_then_creates_and_enforces_retention(
    kafka_home: Path, ec2_root: Path
) -> None:
    conf = ec2_root / "etc/cryptotrades"
    result, calls = create_topic(kafka_home, conf, FAIL_LISTS="2")
    assert result.returncode == 0, result.stderr
    client = f"--bootstrap-server 10.40.0.12:9092 --command-config {conf}/client.properties"
    assert calls[:3] == [f"kafka-topics.sh {client} --list"] * 3
    assert calls[3] == (
        f"kafka-topics.sh {client} --create --if-not-exists --topic cryptotrades --partitions 1 "
        "--replication-factor 1 --config retention.ms=300000 --config segment.ms=60000 "
        "--config cleanup.policy=delete"
    )
    assert calls[4] == (
        f"kafka-configs.sh {client} --alter --entity-type topics --entity-name cryptotrades "
        "--add-config retention.ms=300000,segment.ms=60000,cleanup.policy=delete"
    )
    assert calls[5] == f"kafka-topics.sh {client} --describe --topic cryptotrades"


def test_create_topic_gives_up_naming_the_broker(kafka_home: Path, ec2_root: Path) -> None:
    result, calls = create_topic(
        kafka_home, ec2_root / "etc/cryptotrades", FAIL_LISTS="1000", CRYPTOTRADES_TOPIC_WAIT_SECONDS="0"
    )
    assert result.returncode != 0
    assert "no broker answered at 10.40.0.12:9092" in result.stderr
    assert not any("--create" in call for call in calls)


def test_create_topic_refuses_a_malformed_settings_file(kafka_home: Path, ec2_root: Path) -> None:
    conf = ec2_root / "etc/cryptotrades"
    (conf / "topic.properties").write_text("retention.ms=300000\nsegment.ms\n")
    result, calls = create_topic(kafka_home, conf)
    assert result.returncode != 0
    assert "'segment.ms' is not key=value" in result.stderr
    assert calls == []


# --- lib.sh: the download check -------------------------------------------------------------


def lib(call: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'. "{HOST}/lib.sh"; {call}'],
        cwd=tmp_path,
        env=shell_env({}),
        capture_output=True,
        text=True,
        check=False,
    )


def gpg_print_md(name: str, digest: str) -> str:
    """How Apache's .sha512 files written by ``gpg --print-md SHA512`` look: upper case, grouped, folded."""
    groups = [digest[i : i + 8].upper() for i in range(0, 128, 8)]
    return f"{name}: {' '.join(groups[:6])}\n{' ' * (len(name) + 2)}{' '.join(groups[6:12])}\n" + (
        f"{' ' * (len(name) + 2)}{' '.join(groups[12:])}\n"
    )


def test_published_sha512_reads_both_apache_formats(tmp_path: Path) -> None:
    tarball = tmp_path / "kafka_2.13-4.1.1.tgz"
    tarball.write_bytes(os.urandom(4096))
    digest = hashlib.sha512(tarball.read_bytes()).hexdigest()
    (tmp_path / "gpg.sha512").write_text(gpg_print_md(tarball.name, digest))
    (tmp_path / "coreutils.sha512").write_text(f"{digest}  {tarball.name}\n")
    for name in ("gpg.sha512", "coreutils.sha512"):
        result = lib(f"published_sha512 {name}", tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == digest
    assert lib(f"verify_sha512 {tarball.name} {digest}", tmp_path).returncode == 0


def test_a_tampered_download_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "kafka.tgz"
    tarball.write_bytes(b"not the release")
    wrong = hashlib.sha512(b"the release").hexdigest()
    result = lib(f"verify_sha512 kafka.tgz {wrong}", tmp_path)
    assert result.returncode != 0
    assert f"expected {wrong}" in result.stderr
    (tmp_path / "empty.sha512").write_text("kafka.tgz: \n")
    assert lib("published_sha512 empty.sha512", tmp_path).returncode != 0


# --- systemd units --------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_services_restart_and_read_the_files_render_config_writes(ec2_root: Path) -> None:
    rendered = {f"/{p.relative_to(ec2_root)}" for p in ec2_root.rglob("*") if p.is_file()}
    for name, restart in (
        ("kafka.service", "always"),
        ("cryptotrades-vector.service", "always"),
        ("cryptotrades-topic.service", "on-failure"),
    ):
        service = unit(HOST / "systemd" / name)["Service"]
        assert service["Restart"] == restart, name
        assert service["EnvironmentFile"] in rendered, name
    vector = unit(HOST / "systemd" / "cryptotrades-vector.service")["Service"]
    assert vector["ExecStart"] == "/usr/bin/vector --config /etc/cryptotrades/vector.toml"
    assert "/etc/cryptotrades/vector.toml" in rendered
    kafka = unit(HOST / "systemd" / "kafka.service")["Service"]
    assert kafka["ExecStart"].endswith(" /etc/kafka/server.properties")


def test_the_producer_unit_runs_the_hosts_python_with_the_release_on_its_path(ec2_root: Path) -> None:
    producer = unit(REPO_ROOT / "producer" / "cryptotrades-producer.service")["Service"]
    assert producer["ExecStart"].split()[0] == f"/usr/bin/python{HOST_PYTHON}"
    assert producer["EnvironmentFile"] == "/etc/cryptotrades/producer.env"
    assert (
        f"/{(ec2_root / 'etc/cryptotrades/producer.env').relative_to(ec2_root)}"
        == producer["EnvironmentFile"]
    )
    drop_in = unit(HOST / "systemd" / "producer-host.conf")
    assert drop_in["Service"]["WorkingDirectory"] == RELEASE_DIR
    path = drop_in["Service"]["Environment"].removeprefix("PYTHONPATH=").split(":")
    assert path == [RELEASE_DIR, f"{RELEASE_DIR}/site-packages"]
    assert "cryptotrades-topic.service" in drop_in["Unit"]["After"]


# --- issue 9: a failed first boot signals at once and leaves its log ----------------------------

SIGNAL_STUBS = {
    "dnf": "exit 1",  # the cfn-bootstrap install fails: the case that used to wait 20 minutes
    "systemctl": "exit 0",
    "aws": "exit 0",
    "curl": """case "$*" in
  *api/token*) echo token ;;
  *instance-id*) echo i-0123456789abcdef0 ;;
  *) exit 22 ;;
esac""",
}


def test_a_failed_cfn_bootstrap_install_still_signals_failure_at_once(
    synth_default: Synth, tmp_path: Path
) -> None:
    if Path("/opt/aws/bin/cfn-signal").exists():
        pytest.skip("this machine has /opt/aws/bin/cfn-signal: the CLI fallback cannot be exercised here")
    (instance_id, instance) = synth_default.one("AWS::EC2::Instance")
    stubs, calls = tmp_path / "stubs", tmp_path / "calls.log"
    stubs.mkdir()
    for name, body in SIGNAL_STUBS.items():
        (stubs / name).write_text(f'#!/usr/bin/env bash\necho "{name} $*" >>"{calls}"\n{body}\n')
        (stubs / name).chmod(0o755)
    script = tmp_path / "user-data.sh"
    script.write_text(flatten(instance["Properties"]["UserData"]))
    # Stops at the failing dnf, before the script writes anything (host.env, /opt).
    result = subprocess.run(
        ["bash", str(script)],
        env={"PATH": f"{stubs}:{os.environ['PATH']}", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    recorded = calls.read_text().splitlines()
    assert recorded[0].startswith("dnf install") and "aws-cfn-bootstrap" in recorded[0]
    # The journal shipper is stopped (which flushes it) before the signal goes out.
    assert recorded[1] == "systemctl stop cryptotrades-host-logs.service"
    assert recorded[-1] == (
        f"aws cloudformation signal-resource --stack-name Cryptotrades --logical-resource-id {instance_id} "
        "--unique-id i-0123456789abcdef0 --status FAILURE --region eu-west-1"
    )


def test_the_user_data_sets_its_trap_before_any_command_that_can_fail(synth_default: Synth) -> None:
    (_, instance) = synth_default.one("AWS::EC2::Instance")
    lines = flatten(instance["Properties"]["UserData"]).splitlines()
    trap = lines.index("trap signal EXIT")
    before = [line for line in lines[:trap] if line and not line.startswith(("#", " ", "}", "signal()"))]
    assert before == ["set -euo pipefail"], before
    assert any(line.startswith("/opt/aws/bin/cfn-signal") for line in map(str.strip, lines[:trap]))


def test_the_host_log_config_uses_only_documented_vector_options() -> None:
    from onebox import vector_config
    from tests.fixtures import vector_reference

    reference = vector_reference.load_reference()
    env = {"CRYPTOTRADES_HOST_LOG_GROUP": "Cryptotrades-KafkaHostLogs-1A2B3C", "AWS_REGION": "eu-west-1"}
    path = HOST / "host-logs.toml"
    assert vector_config.environment_names(path.read_text()) == list(env)
    config = vector_config.load(path, env)
    assert vector_reference.check(config, reference) == []
    source, sink = config["sources"]["journal"], config["sinks"]["cloudwatch"]
    assert source["type"] == "journald" and sink["type"] == "aws_cloudwatch_logs"
    assert {"cloud-final", "kafka", "cryptotrades-producer", "cryptotrades-vector"} <= set(
        source["include_units"]
    )
    assert sink["group_name"] == env["CRYPTOTRADES_HOST_LOG_GROUP"] and sink["create_missing_group"] is False
    # The checker does catch a misspelt option of these components (the canary).
    config["sinks"]["cloudwatch"]["group"] = "typo"
    assert any("group" in problem for problem in vector_reference.check(config, reference))


def test_the_host_log_group_outlives_the_host_and_is_named_in_host_env(synth_default: Synth) -> None:
    groups = {
        name: body
        for name, body in synth_default.resources("AWS::Logs::LogGroup").items()
        if "/KafkaHost/Logs/" in body["Metadata"]["aws:cdk:path"]
    }
    ((group_id, group),) = groups.items()
    assert group["DeletionPolicy"] == "Retain" and group["UpdateReplacePolicy"] == "Retain"
    (_, instance) = synth_default.one("AWS::EC2::Instance")
    assert {"Ref": group_id} in json.loads(json.dumps(instance["Properties"]["UserData"]))["Fn::Base64"][
        "Fn::Join"
    ][1]
