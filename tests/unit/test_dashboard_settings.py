"""DashboardSettings: flag > env var > default, checked at start-up."""

from __future__ import annotations

import pytest

from dashboard.errors import SettingsError
from dashboard.settings import (
    DB_URL_ENV,
    DEFAULT_DB_URL,
    PORT_ENV,
    REFRESH_ENV,
    SHARED_DB_URL_ENV,
    SYMBOL_ENV,
    DashboardSettings,
)


def test_defaults():
    settings = DashboardSettings.from_env({})
    assert settings == DashboardSettings(db_url=DEFAULT_DB_URL)
    assert (settings.host, settings.port, settings.symbol, settings.refresh_seconds) == (
        "127.0.0.1",
        8050,
        "BTCUSDT",
        5.0,
    )


def test_flag_over_env_over_default():
    env = {
        DB_URL_ENV: "sqlite:///dashboard.db",
        SHARED_DB_URL_ENV: "sqlite:///writer.db",
        PORT_ENV: "9000",
        SYMBOL_ENV: "ethusdt",
        REFRESH_ENV: "2.5",
    }
    from_env = DashboardSettings.from_env(env)
    assert (from_env.db_url, from_env.port, from_env.symbol, from_env.refresh_seconds) == (
        "sqlite:///dashboard.db",
        9000,
        "ETHUSDT",
        2.5,
    )
    flagged = DashboardSettings.from_env(
        env, db_url="sqlite:///flag.db", port=0, symbol="BTCUSDT", refresh_seconds=1
    )
    assert (flagged.db_url, flagged.port, flagged.symbol, flagged.refresh_seconds) == (
        "sqlite:///flag.db",
        0,
        "BTCUSDT",
        1,
    )


def test_the_aggregators_url_serves_when_the_dashboard_has_none():
    assert (
        DashboardSettings.from_env({SHARED_DB_URL_ENV: "sqlite:///writer.db"}).db_url == "sqlite:///writer.db"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({PORT_ENV: "http"}, PORT_ENV),
        ({PORT_ENV: "70000"}, PORT_ENV),
        ({REFRESH_ENV: "0.1"}, REFRESH_ENV),
        ({REFRESH_ENV: "nan"}, REFRESH_ENV),
        ({SYMBOL_ENV: "BTC/USDT"}, SYMBOL_ENV),
    ],
)
def test_bad_values_are_named_by_the_variable_the_user_set(env, named):
    with pytest.raises(SettingsError, match=f"^{named}: .*got"):
        DashboardSettings.from_env(env)


def test_a_bad_flag_is_named_by_its_flag_even_when_a_variable_is_set_too():
    with pytest.raises(SettingsError, match=r"^--refresh: .*got 0\.1"):
        DashboardSettings.from_env({REFRESH_ENV: "5"}, refresh_seconds=0.1)


def test_a_bad_database_url_does_not_leak_its_password():
    with pytest.raises(SettingsError, match="scheme 'postgres'") as caught:
        DashboardSettings.from_env({DB_URL_ENV: "postgres://reader:s3cret@db:5432/trades"})
    assert "s3cret" not in str(caught.value)
