"""Shared test setup. Fixtures that need servers live in tests/fixtures/, one module per kind."""

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
