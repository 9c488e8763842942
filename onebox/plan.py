"""What each stage is told: the one-box's settings and what the endpoints answered, as each
stage's typed settings (``onebox.stages``) and environment.

The environments are those the deployment gives the real services: Vector's is what the
Kafka host's unit gives it, the runner's is what the CDK gives the Lambda. Pure, apart from
`plan_topics`, which reads the Vector file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from binance.events import MINUTE_MS
from contract.pipeline import (
    AGGREGATOR_SERVICE_NAME,
    BUCKET_ENV,
    DB_URL_ENV,
    KAFKA_BOOTSTRAP_ENV,
    METRICS_NAMESPACE,
    POWERTOOLS_METRICS_NAMESPACE_ENV,
    POWERTOOLS_SERVICE_NAME_ENV,
    REGION_ENV,
)
from onebox import vector_config
from onebox.aws_endpoint import EMBEDDED_AWS_CREDENTIALS, Wiring
from onebox.processes import stage_env
from onebox.settings import OneboxSettings
from onebox.stages import (
    BrokerSettings,
    ProducerStageSettings,
    ReplayCounters,
    ReplaySettings,
    RunnerSettings,
    SinkSettings,
)

# Where boto3 (and so the handler and the sink) finds a non-AWS endpoint.
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS")
# Nothing of a real AWS identity reaches the stages when S3 and SQS are embedded.
AWS_SESSION_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")
PLACEHOLDER_ADDRESS = "127.0.0.1:9"


def base_env(settings: OneboxSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """Every stage's environment: the supervisor's, the tests' extras, this repo importable."""
    env = stage_env(environ, dict(settings.extra_env))
    if settings.embedded_aws:
        env = {k: v for k, v in env.items() if k not in AWS_SESSION_VARIABLES}
    return env


def vector_env(settings: OneboxSettings, bootstrap: str) -> dict[str, str]:
    """What the Kafka host's systemd unit gives Vector, with the one-box's values."""
    return {KAFKA_BOOTSTRAP_ENV: bootstrap, BUCKET_ENV: settings.bucket, REGION_ENV: settings.region}


def aws_env(settings: OneboxSettings, endpoint: str | None) -> dict[str, str]:
    """Region, the embedded credentials and the endpoint, for every stage that calls S3 or SQS."""
    env = {REGION_ENV: settings.region, "AWS_DEFAULT_REGION": settings.region}
    if settings.embedded_aws:
        env.update(EMBEDDED_AWS_CREDENTIALS)
    if endpoint:
        env.update(dict.fromkeys(ENDPOINT_ENVS, endpoint))
    return env


def function_env(settings: OneboxSettings) -> dict[str, str]:
    """What the CDK gives the aggregator Lambda, with the one-box's database."""
    return {
        DB_URL_ENV: settings.database_url,
        POWERTOOLS_SERVICE_NAME_ENV: AGGREGATOR_SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE_ENV: METRICS_NAMESPACE,
    }


def plan_topics(settings: OneboxSettings, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The topics of vector.toml (read with placeholder values: only the topics matter here)."""
    text = settings.vector_config.read_text()
    placeholder = dict.fromkeys(vector_config.environment_names(text), PLACEHOLDER_ADDRESS)
    config = vector_config.load(settings.vector_config, {**placeholder, **environ})
    return vector_config.sink_plan(config).topics


def broker(topics: tuple[str, ...]) -> BrokerSettings:
    return BrokerSettings(topics=topics)


def runner(settings: OneboxSettings, wiring: Wiring) -> RunnerSettings:
    return RunnerSettings(
        queue_url=wiring.queue_url,
        region=settings.region,
        dead_letter_queue_url=wiring.dead_letter_queue_url or None,
        max_tries=settings.max_tries,
        retry_base_s=settings.retry_base_s,
        retry_cap_s=settings.retry_cap_s,
    )


def sink(settings: OneboxSettings) -> SinkSettings:
    return SinkSettings(vector_config=settings.vector_config)


def replay(settings: OneboxSettings, bootstrap: str, topic: str) -> ReplaySettings:
    assert settings.replay is not None
    return ReplaySettings(
        file=settings.replay,
        speed=settings.speed,
        symbol=settings.symbol,
        align=settings.speed == 1,
        kafka_bootstrap=bootstrap,
        topic=topic,
        klines=settings.klines,
    )


def producer_state_file(settings: OneboxSettings) -> Path:
    """Live: the producer's own state file in the state directory. A replay: one of its own."""
    if settings.replay is not None:
        return settings.state_dir / "replay" / "producer-state.json"
    return settings.state_dir / "producer-state.json"


def replay_start_ids(replay: ReplayCounters) -> dict[str, int]:
    """The agg id before each symbol's first replayed trade: where the producer resumes.

    A replay is a market of its own whose history starts at its first trade. The producer is
    told so as a state file tells it after a stop: it resumes before the first trade, and
    fetches from the fake's REST whatever the stream sent before it connected (at a speed
    above 0 the market does not wait for it).
    """
    return {symbol: ids.first - 1 for symbol, ids in replay.expect.items()}


def replay_start_kline_times(replay: ReplayCounters) -> dict[str, int]:
    """With a klines file: the minute before the replay's first trade, for each symbol.

    So the producer asks the fake's REST for every kline from the first trade's minute on
    (the same history the trades start from), and none before it: a kline of a minute the
    replay holds no trades of would only be a row-less kline in ``minute_check``.
    """
    if not replay.klines or replay.first_trade_time is None:
        return {}
    first_minute = replay.first_trade_time // MINUTE_MS * MINUTE_MS
    return dict.fromkeys(replay.expect, first_minute - MINUTE_MS)


def producer(
    settings: OneboxSettings, bootstrap: str, topic: str, replay: ReplayCounters | None
) -> ProducerStageSettings:
    """Live: Binance itself, --symbol or else the producer's environment's. A replay: the fake's."""
    if replay is None:
        return ProducerStageSettings(
            kafka_bootstrap=bootstrap,
            topic=topic,
            state_file=producer_state_file(settings),
            symbols=(settings.symbol,) if settings.symbol else (),
        )
    return ProducerStageSettings(
        kafka_bootstrap=bootstrap,
        topic=topic,
        state_file=producer_state_file(settings),
        ws_url=replay.ws_url,
        rest_url=replay.rest_url,
        symbols=tuple(replay.expect),
        state_file_only=True,
    )
