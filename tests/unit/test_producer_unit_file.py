"""The systemd unit: hardened as documented, and accepted by systemd's own checker."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "producer" / "cryptotrades-producer.service"


def unit_entries() -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value given (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{UNIT}: {line!r} outside a section"
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_runs_the_producer_restarting_always_as_a_throwaway_user():
    service = unit_entries()["Service"]
    assert service["ExecStart"][0].endswith(" -m producer")
    assert service["EnvironmentFile"] == ["/etc/cryptotrades/producer.env"]
    assert service["Restart"] == ["always"]
    assert service["DynamicUser"] == ["yes"]
    assert service["StateDirectory"] == ["cryptotrades-producer"]
    assert service["KillSignal"] == ["SIGTERM"]
    # Room for the drain (CRYPTOTRADES_SHUTDOWN_TIMEOUT defaults to 20 s) before SIGKILL.
    assert int(service["TimeoutStopSec"][0]) >= 40
    assert unit_entries()["Unit"]["StartLimitIntervalSec"] == ["0"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("MemoryDenyWriteExecute", "yes"),
    ],
)
def test_the_unit_is_hardened(key, value):
    assert unit_entries()["Service"][key] == [value]


def test_systemd_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze on this machine (Debian's systemd package has it)")
    text = UNIT.read_text()
    # The environment file exists only on the host, and the host's Python may not exist here.
    text = text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
    if not Path("/usr/bin/python3.11").exists():
        text = text.replace("/usr/bin/python3.11", sys.executable)
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0, result.stdout + result.stderr
    assert complaints == []  # systemd warns (and goes on) about values it does not understand


def test_the_unit_parses_as_ini_for_tools_that_read_it():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser.get("Install", "WantedBy") == "multi-user.target"
