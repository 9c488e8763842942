"""Shared test setup. Fixtures that need servers live in tests/fixtures/, one module per kind."""

import signal

import pytest

pytest_plugins = [
    "tests.fixtures.data",
    "tests.fixtures.servers",
    "tests.fixtures.infra",
    "tests.fixtures.aggregator",
    "tests.fixtures.dashboard",
    "tests.fixtures.kafka",
    "tests.fixtures.onebox",
    "tests.fixtures.public_data",
]


@pytest.fixture(autouse=True)
def _sigpipe_kept():
    """``cryptotrades.cli.main`` restores SIGPIPE's default (a CLI piped into ``head`` ends quietly);
    tests call it in-process, and the test process must go on ignoring SIGPIPE, or a later test
    writing to a closed pipe kills pytest without a word (exit 141)."""
    before = signal.getsignal(signal.SIGPIPE)
    yield
    signal.signal(signal.SIGPIPE, before)
