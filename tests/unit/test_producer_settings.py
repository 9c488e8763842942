"""ProducerSettings: flag > environment > default, every bad value refused with its name and value."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from producer import settings as names
from producer.errors import SettingsError
from producer.settings import OPTIONS, ProducerSettings, add_arguments, describe, parse_duration
from producer.sink import producer_config


def parse_flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_aim_at_binance_and_a_local_broker():
    settings = ProducerSettings.from_env({})
    assert settings.symbols == ("BTCUSDT",)
    assert settings.ws_url == "wss://stream.binance.com:9443"
    assert settings.rest_url == "https://api.binance.com"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.topic == "cryptotrades"
    assert settings.state_file == Path("producer-state.json")
    assert settings.health_host_port == ("127.0.0.1", 9108)


def test_the_documentation_lists_every_setting():
    text = (Path(__file__).resolve().parents[2] / "docs" / "producer.md").read_text()
    for option in OPTIONS:
        assert f"`{option.flag}` | `{option.env}`" in text, f"docs/producer.md lacks {option.env}"


def test_every_field_has_one_option_and_flags_follow_env_names():
    assert [option.field for option in OPTIONS] == [
        field.name for field in dataclasses.fields(ProducerSettings)
    ]
    for option in OPTIONS:
        assert option.env.startswith("CRYPTOTRADES_")
        assert option.flag == "--" + option.env.removeprefix("CRYPTOTRADES_").lower().replace("_", "-")
    assert len({option.env for option in OPTIONS}) == len(OPTIONS)


def test_environment_over_defaults():
    settings = ProducerSettings.from_env(
        {
            names.SYMBOLS: "btcusdt, ethusdt",
            names.BINANCE_ENDPOINT: "vision",
            names.KAFKA_BOOTSTRAP: "10.0.0.5:9092,10.0.0.6:9092",
            names.TOPIC: "trades",
            names.KAFKA_OPTIONS: "security.protocol=ssl,ssl.ca.location=/etc/pki/ca.crt",
            names.ROTATE_AFTER: "12h",
            names.STATE_INTERVAL: "500ms",
            names.RESUME_FROM_KAFKA: "false",
            names.MAX_BACKFILL: "1_000",
            names.HEALTH_ADDRESS: "",
        }
    )
    assert settings.symbols == ("BTCUSDT", "ETHUSDT")
    assert settings.ws_url == "wss://data-stream.binance.vision"
    assert settings.rest_url == "https://data-api.binance.vision"
    assert settings.kafka_options == (("security.protocol", "ssl"), ("ssl.ca.location", "/etc/pki/ca.crt"))
    assert settings.rotate_after == 43_200
    assert settings.state_interval == 0.5
    assert settings.resume_from_kafka is False
    assert settings.max_backfill == 1000
    assert settings.health_address == "127.0.0.1:9108"  # empty env = unset, the default holds


def test_flags_over_environment():
    env = {names.TOPIC: "from-env", names.SYMBOLS: "ethusdt"}
    args = parse_flags("--topic", "from-flag", "--health-address", "0.0.0.0:0")
    settings = ProducerSettings.from_args(args, env)
    assert settings.topic == "from-flag"
    assert settings.symbols == ("ETHUSDT",)
    assert settings.health_host_port == ("0.0.0.0", 0)


def test_systemd_state_directory_is_the_default_home_of_the_state_file():
    settings = ProducerSettings.from_env({names.SYSTEMD_STATE_DIRECTORY: "/var/lib/cryptotrades-producer"})
    assert settings.state_file == Path("/var/lib/cryptotrades-producer/state.json")
    chosen = ProducerSettings.from_env(
        {names.SYSTEMD_STATE_DIRECTORY: "/var/lib/x", names.STATE_FILE: "/srv/state.json"}
    )
    assert chosen.state_file == Path("/srv/state.json")


def test_overrides_in_code_beat_the_environment():
    settings = ProducerSettings.from_env(
        {names.TOPIC: "env"}, topic="code", binance_ws_url="ws://127.0.0.1:1"
    )
    assert settings.topic == "code"
    assert settings.ws_url == "ws://127.0.0.1:1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({names.SYMBOLS: "btc-usdt"}, "CRYPTOTRADES_SYMBOLS='btc-usdt'"),
        ({names.SYMBOLS: "btcusdt,BTCUSDT"}, "listed twice"),
        ({names.SYMBOLS: " , "}, "at least one symbol"),
        (
            {names.BINANCE_ENDPOINT: "binance.com"},
            "CRYPTOTRADES_BINANCE_ENDPOINT='binance.com': expected one of",
        ),
        ({names.BINANCE_WS_URL: "http://x"}, "CRYPTOTRADES_BINANCE_WS_URL='http://x'"),
        ({names.BINANCE_REST_URL: "ftp://x"}, "CRYPTOTRADES_BINANCE_REST_URL='ftp://x'"),
        ({names.KAFKA_BOOTSTRAP: "localhost"}, "'localhost' is not host:port"),
        ({names.TOPIC: "bad topic"}, "CRYPTOTRADES_TOPIC='bad topic'"),
        ({names.KAFKA_COMPRESSION: "none"}, "compression stays on"),
        ({names.KAFKA_OPTIONS: "acks=1"}, "acks may not be changed"),
        ({names.KAFKA_OPTIONS: "enable.idempotence=false"}, "enable.idempotence may not be changed"),
        ({names.KAFKA_OPTIONS: "justakey"}, "'justakey' is not key=value"),
        ({names.BUFFER_MESSAGES: "5"}, "CRYPTOTRADES_BUFFER_MESSAGES=5: expected a number from 10"),
        ({names.BUFFER_MESSAGES: "lots"}, "CRYPTOTRADES_BUFFER_MESSAGES='lots': expected a whole number"),
        ({names.ROTATE_AFTER: "25h"}, "CRYPTOTRADES_ROTATE_AFTER=90000.0"),
        ({names.ROTATE_AFTER: "soon"}, "CRYPTOTRADES_ROTATE_AFTER='soon': expected a duration"),
        ({names.RECONNECT_MIN: "10s", names.RECONNECT_MAX: "5s"}, "CRYPTOTRADES_RECONNECT_MAX=5.0 is below"),
        ({names.RESUME_FROM_KAFKA: "maybe"}, "expected true or false"),
        ({names.HEALTH_ADDRESS: "9108"}, "CRYPTOTRADES_HEALTH_ADDRESS='9108': expected host:port"),
    ],
)
def test_bad_values_are_refused_with_name_and_value(env, message):
    with pytest.raises(SettingsError) as caught:
        ProducerSettings.from_env(env)
    assert message in str(caught.value)


def test_a_bad_flag_is_named_as_the_flag():
    with pytest.raises(SettingsError, match="--rotate-after='x'"):
        ProducerSettings.from_args(parse_flags("--rotate-after", "x"), {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20", 20.0), ("1.5s", 1.5), ("500ms", 0.5), ("30m", 1800.0), ("23h", 82_800.0), (" 2 s ", 2.0)],
)
def test_durations(text, seconds):
    assert parse_duration("X", text) == seconds


def test_describe_hides_kafka_option_values():
    settings = ProducerSettings(kafka_options=(("sasl.password", "hunter2"),))
    text = " ".join(f"{name}={value}" for name, value in describe(settings))
    assert "hunter2" not in text
    assert "CRYPTOTRADES_KAFKA_OPTIONS=sasl.password=…" in text


def test_the_kafka_configuration_carries_the_guarantee():
    config = producer_config(ProducerSettings(kafka_options=(("client.id", "host-7"),)))
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["enable.gapless.guarantee"] is True
    assert config["message.timeout.ms"] == 0  # never give up on a trade: wait instead
    assert config["compression.type"] == "lz4"
    assert config["client.id"] == "host-7"
