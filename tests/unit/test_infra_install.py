"""install.sh, run for real into a temp dir standing in for / (``CRYPTOTRADES_ROOT``).

What only an EC2 host has is replaced by stand-ins on PATH that record their calls: dnf,
systemctl, useradd, chown, runuser (runs the command it is given), id, aws, and curl (which
answers the instance metadata service and serves a fake Kafka release from a local folder).
The script itself, lib.sh, render-config.sh, tar, sha512sum and install are the real ones.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.infra import REPO_ROOT

HOST = REPO_ROOT / "infra" / "host"
KAFKA = "kafka_2.13-4.1.1"
PRIVATE_IP = "10.40.0.12"
MSK_BOOTSTRAP = "b-1.msk.example:9094,b-2.msk.example:9094"

STUBS = {
    "dnf": "exit 0",
    "useradd": 'touch "$STUB_STATE/user-${*: -1}"',
    "id": '[ -e "$STUB_STATE/user-${*: -1}" ]',
    "chown": "exit 0",
    "runuser": 'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"',
    "systemctl": """case "$1" in
  is-enabled) exit 1 ;;  # the package's own vector.service is not enabled
  *) exit 0 ;;
esac""",
    "aws": f'echo "{MSK_BOOTSTRAP}"',
    # A download that is not bounded in time is a test failure: exit 2 names the missing option.
    "curl": f"""out=""; url=""; connect=""; total=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift ;;
    --connect-timeout) connect=$2; shift ;;
    --max-time) total=$2; shift ;;
    -H|-X|--retry|--retry-delay|--proto) shift ;;
    -*) ;;
    *) url=$1 ;;
  esac
  shift
done
if [ -z "$connect" ] || [ -z "$total" ]; then
  echo "curl stand-in: $url without --connect-timeout and --max-time" >&2; exit 2
fi
case "$url" in
  */api/token) echo token ;;
  */meta-data/local-ipv4) echo {PRIVATE_IP} ;;
  https://downloads.apache.org/*)
    [ -z "${{STUB_DOWNLOADS_DOWN:-}}" ] || exit 7
    cp "$STUB_DOWNLOADS/${{url##*/}}" "$out" ;;
  https://archive.apache.org/*) cp "$STUB_DOWNLOADS/${{url##*/}}" "$out" ;;
  */health) echo '{{"status": "ok"}}' ;;
  *) echo "curl stand-in: unexpected $url" >&2; exit 22 ;;
esac""",
}
# The fake release's storage tool: formats log.dirs (under CRYPTOTRADES_ROOT) as Kafka would.
KAFKA_STORAGE = """#!/usr/bin/env bash
case "$1" in
  random-uuid) echo 5L6g3nShT-eMCtK--X86sw ;;
  format)
    dirs=$(sed -n 's/^log.dirs=//p' "$5")
    mkdir -p "$CRYPTOTRADES_ROOT$dirs"
    printf 'cluster.id=%s\\nnode.id=1\\n' "$3" >"$CRYPTOTRADES_ROOT$dirs/meta.properties" ;;
esac
"""


@dataclass
class Host:
    root: Path
    calls: Path
    env: dict[str, str]

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(HOST / "install.sh")],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def commands(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


def fake_kafka_release(downloads: Path, *, tamper: bool = False) -> None:
    staging = downloads / "staging" / KAFKA / "bin"
    staging.mkdir(parents=True)
    (staging / "kafka-server-start.sh").write_text("#!/usr/bin/env bash\n")
    (staging / "kafka-storage.sh").write_text(KAFKA_STORAGE)
    for script in staging.iterdir():
        script.chmod(0o755)
    tarball = downloads / f"{KAFKA}.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(staging.parent, arcname=KAFKA)
    digest = hashlib.sha512(tarball.read_bytes()).hexdigest()
    (downloads / f"{KAFKA}.tgz.sha512").write_text(f"{digest}  {KAFKA}.tgz\n")
    if tamper:
        tarball.write_bytes(tarball.read_bytes() + b"\0")


def make_host(tmp_path: Path, mode: str, *, tamper: bool = False, **settings_extra: str) -> Host:
    root, stubs, state, downloads = (tmp_path / name for name in ("root", "stubs", "state", "downloads"))
    for folder in (root / "etc/cryptotrades", stubs, state, downloads):
        folder.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    for name, body in STUBS.items():
        (stubs / name).write_text(f'#!/usr/bin/env bash\necho "{name} $*" >>"$STUB_CALLS"\n{body}\n')
        (stubs / name).chmod(0o755)
    fake_kafka_release(downloads, tamper=tamper)
    settings = {
        "CRYPTOTRADES_KAFKA_MODE": mode,
        "CRYPTOTRADES_TOPIC": "cryptotrades",
        "CRYPTOTRADES_TOPIC_PARTITIONS": "1",
        "CRYPTOTRADES_TOPIC_REPLICATION": "1" if mode == "ec2" else "2",
        "CRYPTOTRADES_TOPIC_RETENTION_MS": "300000",
        "CRYPTOTRADES_TOPIC_SEGMENT_MS": "60000",
        "CRYPTOTRADES_BUCKET": "trades-bucket",
        "AWS_REGION": "eu-west-1",
        "CRYPTOTRADES_PYTHON": "python3.11",
        "KAFKA_VERSION": "4.1.1",
        "KAFKA_SCALA_VERSION": "2.13",
        "KAFKA_SHA512": "",
        "VECTOR_VERSION": "0.57.0",
        "CRYPTOTRADES_HOST_LOG_GROUP": "Cryptotrades-KafkaHostLogs-1A2B3C",
        **settings_extra,
    }
    if mode == "ec2":
        settings |= {"CRYPTOTRADES_KAFKA_DATA_DIR": "/var/lib/kafka/data", "CRYPTOTRADES_KAFKA_HEAP": "512m"}
    else:
        settings["MSK_CLUSTER_ARN"] = "arn:aws:kafka:eu-west-1:123456789012:cluster/c/1"
    (root / "etc/cryptotrades/host.env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "LANG": "C.UTF-8",
        "CRYPTOTRADES_ROOT": str(root),
        "CRYPTOTRADES_HEALTH_TRIES": "1",
        "STUB_CALLS": str(calls),
        "STUB_STATE": str(state),
        "STUB_DOWNLOADS": str(downloads),
    }
    return Host(root=root, calls=calls, env=env)


def test_a_fresh_host_gets_kafka_vector_the_producer_and_their_units_in_order(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    result = host.run()
    assert result.returncode == 0, result.stderr
    calls = host.commands()
    dnf = "dnf install -y -q --setopt=timeout=30 --setopt=retries=3"
    assert f"{dnf} java-21-amazon-corretto-headless python3.11" in calls
    assert f"{dnf} vector-0.57.0" in calls
    downloads = [c for c in calls if c.startswith("curl") and "apache.org" in c]
    assert [c.rsplit(" ", 1)[-1] for c in downloads] == [
        f"https://downloads.apache.org/kafka/4.1.1/{KAFKA}.tgz",
        f"https://archive.apache.org/dist/kafka/4.1.1/{KAFKA}.tgz.sha512",
    ]
    assert "useradd --system --no-create-home --shell /sbin/nologin kafka" in calls
    formats = [c for c in calls if c.startswith("runuser") and " format " in c]
    assert formats == [
        f"runuser -u kafka -- env LOG_DIR=/var/log/kafka {host.root}/opt/kafka/bin/kafka-storage.sh format "
        f"--cluster-id 5L6g3nShT-eMCtK--X86sw --config {host.root}/etc/kafka/server.properties"
    ]
    assert (host.root / "var/lib/kafka/data/meta.properties").is_file()
    units = [
        "kafka.service",
        "cryptotrades-topic.service",
        "cryptotrades-vector.service",
        "cryptotrades-producer.service",
    ]
    systemctl = [c for c in calls if c.startswith("systemctl")]
    assert systemctl == [
        "systemctl is-enabled --quiet vector.service",
        "systemctl daemon-reload",
        "systemctl enable cryptotrades-host-logs.service",
        "systemctl restart cryptotrades-host-logs.service",
        "systemctl daemon-reload",
        f"systemctl enable {' '.join(units)}",
        *(f"systemctl restart {unit}" for unit in units),
        *(f"systemctl is-active --quiet {unit}" for unit in units),
    ]
    assert "producer healthy" in result.stderr


def test_the_installed_files_are_the_repos_and_the_rendered_ones(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    assert host.run().returncode == 0
    system = host.root / "etc/systemd/system"
    for name in ("kafka.service", "cryptotrades-topic.service", "cryptotrades-vector.service"):
        assert (system / name).read_bytes() == (HOST / "systemd" / name).read_bytes()
    assert (system / "cryptotrades-producer.service").read_bytes() == (
        REPO_ROOT / "producer" / "cryptotrades-producer.service"
    ).read_bytes()
    assert (system / "cryptotrades-producer.service.d/10-host.conf").read_bytes() == (
        HOST / "systemd" / "producer-host.conf"
    ).read_bytes()
    assert (host.root / "opt/kafka").readlink() == host.root / "opt" / KAFKA
    repo = (host.root / "etc/yum.repos.d/vector.repo").read_text()
    assert "gpgcheck=1" in repo and "repo_gpgcheck=1" in repo
    server = (host.root / "etc/kafka/server.properties").read_text()
    assert f"advertised.listeners=PLAINTEXT://{PRIVATE_IP}:9092" in server
    vector_env = (host.root / "etc/cryptotrades/vector.env").read_text()
    assert f"CRYPTOTRADES_KAFKA_BOOTSTRAP={PRIVATE_IP}:9092" in vector_env


def test_running_again_neither_downloads_nor_reformats(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    assert host.run().returncode == 0
    host.calls.unlink()
    meta = (host.root / "var/lib/kafka/data/meta.properties").read_text()
    result = host.run()
    assert result.returncode == 0, result.stderr
    calls = host.commands()
    assert not [c for c in calls if "archive.apache.org" in c]
    assert not [c for c in calls if " format " in c or c.startswith("useradd")]
    assert (host.root / "var/lib/kafka/data/meta.properties").read_text() == meta
    assert "systemctl restart kafka.service" in calls


def test_a_tampered_kafka_download_stops_the_install_before_anything_starts(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2", tamper=True)
    result = host.run()
    assert result.returncode != 0
    assert (
        "SHA-512 mismatch" in result.stderr
        and f"refusing https://downloads.apache.org/kafka/4.1.1/{KAFKA}.tgz" in (result.stderr)
    )
    assert not (host.root / "opt" / KAFKA).exists()
    # Nothing of the pipeline started; only the journal shipper, so this failure is on record.
    started = [c for c in host.commands() if c.startswith("systemctl restart")]
    assert started == ["systemctl restart cryptotrades-host-logs.service"]


def test_on_msk_the_host_asks_msk_for_brokers_and_runs_no_broker(tmp_path: Path) -> None:
    host = make_host(tmp_path, "msk")
    result = host.run()
    assert result.returncode == 0, result.stderr
    calls = host.commands()
    assert (
        "aws kafka get-bootstrap-brokers --region eu-west-1 "
        "--cluster-arn arn:aws:kafka:eu-west-1:123456789012:cluster/c/1 "
        "--cli-connect-timeout 10 --cli-read-timeout 30 --query BootstrapBrokerStringTls --output text"
    ) in calls
    assert not [c for c in calls if "kafka.service" in c or " format " in c or "meta-data" in c]
    assert not (host.root / "etc/systemd/system/kafka.service").exists()
    assert (
        f"CRYPTOTRADES_KAFKA_BOOTSTRAP={MSK_BOOTSTRAP}"
        in (host.root / "etc/cryptotrades/topic.env").read_text()
    )
    # Kafka's CLI tools are still installed: they create the topic on MSK.
    assert (host.root / "opt/kafka/bin/kafka-storage.sh").is_file()


def test_without_host_env_the_install_says_what_is_missing(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    (host.root / "etc/cryptotrades/host.env").unlink()
    result = host.run()
    assert result.returncode != 0
    assert "host.env is missing (user data writes it)" in result.stderr
    assert host.commands() == []


@pytest.mark.parametrize("name", sorted(STUBS))
def test_the_stand_ins_are_on_path_before_the_real_tools(tmp_path: Path, name: str) -> None:
    # If a stand-in were not found first, the test would run the real dnf or systemctl here.
    host = make_host(tmp_path, "ec2")
    found = subprocess.run(["bash", "-c", f"command -v {name}"], env=host.env, capture_output=True, text=True)
    assert found.stdout.strip() == str(tmp_path / "stubs" / name)


# --- issue 9: downloads that give up, mirrors, a pinned digest, the journal shipped first --------


def test_every_download_is_bounded_in_time(tmp_path: Path) -> None:
    # The curl stand-in refuses (exit 2) any call without --connect-timeout and --max-time.
    for mode in ("ec2", "msk"):
        host = make_host(tmp_path / mode, mode)
        result = host.run()
        assert result.returncode == 0, result.stderr
        curls = [c for c in host.commands() if c.startswith("curl")]
        assert curls and all("--connect-timeout" in c and "--max-time" in c for c in curls), curls
    dnf = [c for c in host.commands() if c.startswith("dnf")]
    assert dnf and all("--setopt=timeout=30" in c for c in dnf), dnf


def test_with_downloads_apache_org_down_kafka_comes_from_the_archive(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    host.env["STUB_DOWNLOADS_DOWN"] = "1"
    host.env["CRYPTOTRADES_DOWNLOAD_SECONDS"] = "5"
    result = host.run()
    assert result.returncode == 0, result.stderr
    tried = [c.rsplit(" ", 1)[-1] for c in host.commands() if c.startswith("curl") and f"{KAFKA}.tgz" in c]
    assert tried == [
        f"https://downloads.apache.org/kafka/4.1.1/{KAFKA}.tgz",
        f"https://archive.apache.org/dist/kafka/4.1.1/{KAFKA}.tgz",
        f"https://archive.apache.org/dist/kafka/4.1.1/{KAFKA}.tgz.sha512",
    ]
    assert f"download failed: https://downloads.apache.org/kafka/4.1.1/{KAFKA}.tgz" in result.stderr
    assert not list((host.root.parent).rglob("*.part")), "a partial download was left behind"


def test_a_pinned_digest_is_trusted_and_nothing_is_fetched_to_check_it(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    digest = hashlib.sha512((tmp_path / "downloads" / f"{KAFKA}.tgz").read_bytes()).hexdigest()
    with (host.root / "etc/cryptotrades/host.env").open("a") as env:
        env.write(f"KAFKA_SHA512={digest}\n")  # the later line wins when host.env is sourced
    result = host.run()
    assert result.returncode == 0, result.stderr
    assert not [c for c in host.commands() if c.endswith(".sha512")]
    assert "no pinned SHA-512" not in result.stderr


def test_a_wrong_pinned_digest_stops_the_install(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2", KAFKA_SHA512="0" * 128)
    result = host.run()
    assert result.returncode != 0
    assert "SHA-512 mismatch" in result.stderr and f"expected {'0' * 128}" in result.stderr
    assert not (host.root / "opt" / KAFKA).exists()


def test_the_journal_shipper_starts_before_anything_that_can_fail(tmp_path: Path) -> None:
    host = make_host(tmp_path, "ec2")
    assert host.run().returncode == 0
    calls = host.commands()
    shipper = calls.index("systemctl restart cryptotrades-host-logs.service")
    first_risky = min(
        i for i, c in enumerate(calls) if "java-21" in c or (c.startswith("curl") and "apache.org" in c)
    )
    assert shipper < first_risky
    conf = host.root / "etc/cryptotrades"
    assert (conf / "host-logs.toml").read_bytes() == (HOST / "host-logs.toml").read_bytes()
    assert (conf / "host-logs.env").read_text() == (
        "CRYPTOTRADES_HOST_LOG_GROUP=Cryptotrades-KafkaHostLogs-1A2B3C\nAWS_REGION=eu-west-1\n"
    )
    unit = (host.root / "etc/systemd/system/cryptotrades-host-logs.service").read_text()
    assert "ExecStart=/usr/bin/vector --config /etc/cryptotrades/host-logs.toml" in unit
    assert "SupplementaryGroups=systemd-journal" in unit
