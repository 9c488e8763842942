"""``cryptotrades dashboard`` as a real process: serves, answers, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from minutes.store import open_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60


def dashboard(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOTRADES_")}
    return subprocess.Popen(
        [sys.executable, "-m", "cryptotrades.cli", "dashboard", *args],
        cwd=ROOT,
        env={**environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line the process prints, waited for on a thread so a silent process cannot hang us."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=DEADLINE_S).strip()
    except queue.Empty:
        process.kill()
        raise AssertionError(f"no URL within {DEADLINE_S} s; stderr: {process.communicate()[1]}") from None


def test_serves_until_terminated(sqlite_url):
    with open_store(sqlite_url) as store:
        store.migrate()
    process = dashboard("--db", sqlite_url, "--port", "0", "--symbol", "ethusdt")
    try:
        url = first_line(process)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        with urllib.request.urlopen(url + "api/config", timeout=DEADLINE_S) as response:
            config = json.loads(response.read())
        assert (config["symbol"], config["database"]) == ("ETHUSDT", sqlite_url)
        with urllib.request.urlopen(url, timeout=DEADLINE_S) as response:
            assert b"<title>" in response.read()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, stderr
    assert "stopped" in stderr


def test_refuses_a_missing_sqlite_file(tmp_path):
    missing = tmp_path / "nowhere" / "cryptotrades.db"
    process = dashboard("--db", f"sqlite:///{missing}", "--port", "0")
    _, stderr = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 2
    assert f"no database at {missing}" in stderr
    assert not missing.exists()  # and it did not create an empty one


def test_a_bad_setting_is_named(sqlite_url):
    process = dashboard("--db", sqlite_url, env={"CRYPTOTRADES_DASHBOARD_PORT": "eighty"})
    _, stderr = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 2
    assert "CRYPTOTRADES_DASHBOARD_PORT: expected a number; got 'eighty'" in stderr
