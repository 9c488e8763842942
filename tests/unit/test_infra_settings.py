"""The app's settings from CDK context: defaults, parsing of ``-c`` strings, refusals that name the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.errors import ContextError
from infra.settings import DEFAULT_REGION, InfraSettings
from tests.fixtures.infra import QUICKSIGHT_PRINCIPAL, REPO_ROOT, run_app


def from_context(context: dict[str, Any], env: dict[str, str] | None = None) -> InfraSettings:
    return InfraSettings.from_context(context.get, env or {})


def test_the_defaults_are_the_cost_sized_deployment_in_a_region_binance_serves() -> None:
    settings = from_context({})
    assert settings.region == DEFAULT_REGION == "eu-west-1"
    assert settings.kafka == "ec2"
    assert settings.quicksight is False
    assert settings.kafka_instance_type == "t4g.small"
    assert settings.db_instance_type == "t4g.micro"
    assert settings.account is None


def test_cdk_json_context_and_the_defaults_agree() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert from_context(context) == from_context({})


def test_command_line_strings_are_parsed() -> None:
    settings = from_context(
        {
            "region": "ap-northeast-1",
            "kafka": "msk",
            "quicksight": "true",
            "quicksightPrincipal": QUICKSIGHT_PRINCIPAL,
            "rawRetentionDays": "30",
            "alarmEmail": "ops@example.com",
        },
        {"CDK_DEFAULT_ACCOUNT": "123456789012"},
    )
    assert settings.region == "ap-northeast-1"
    assert settings.kafka == "msk"
    assert settings.quicksight is True
    assert settings.raw_retention_days == 30
    assert settings.account == "123456789012"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"region": "us-east-1"}, "region='us-east-1': Binance answers HTTP 451"),
        ({"region": "eu_west_1"}, "region='eu_west_1': expected a region name"),
        ({"kafka": "kinesis"}, "kafka='kinesis': expected ec2 or msk"),
        ({"quicksight": "yes please"}, "quicksight='yes please': expected true or false"),
        ({"quicksight": True}, "quicksight=true needs quicksightPrincipal"),
        (
            {"quicksightPrincipal": "analyst"},
            "quicksightPrincipal='analyst': expected a QuickSight user or group ARN",
        ),
        ({"rawRetentionDays": "0"}, "rawRetentionDays=0: expected a whole number of days >= 1"),
        ({"rawRetentionDays": "a week"}, "rawRetentionDays='a week': expected a whole number"),
        ({"kafkaInstanceType": "small"}, "kafkaInstanceType='small': expected an instance type"),
        ({"kafkaSha512": "abc"}, "kafkaSha512='abc': expected 128 lowercase hex digits"),
        ({"alarmEmail": "ops"}, "alarmEmail='ops': expected an e-mail address"),
        ({"dbCaBundle": "/nonexistent/ca.pem"}, "dbCaBundle='/nonexistent/ca.pem': no such file"),
    ],
)
def test_bad_values_are_refused_naming_key_and_value(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ContextError) as caught:
        from_context(context)
    assert message in str(caught.value)


def test_a_us_region_is_allowed_only_when_asked_for() -> None:
    assert from_context({"region": "us-west-2", "allowUsRegion": "true"}).region == "us-west-2"


def test_a_bad_account_from_the_environment_is_named() -> None:
    with pytest.raises(ContextError, match="CDK_DEFAULT_ACCOUNT='12': expected 12 digits"):
        from_context({}, {"CDK_DEFAULT_ACCOUNT": "12"})


def test_the_app_exits_2_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"region": "us-east-1"})
    assert result.returncode == 2
    assert "infra: region='us-east-1': Binance answers HTTP 451" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_a_pinned_kafka_digest_is_used_unless_the_context_gives_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import settings as settings_module

    pinned, given = "a" * 128, "b" * 128
    monkeypatch.setitem(settings_module.KAFKA_SHA512_PINS, "9.9.9", pinned)
    assert InfraSettings(kafka_version="9.9.9").kafka_digest == pinned
    assert InfraSettings(kafka_version="9.9.9", kafka_sha512=given).kafka_digest == given
    assert InfraSettings(kafka_version="9.9.8").kafka_digest is None
