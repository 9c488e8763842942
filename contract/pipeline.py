"""Names and defaults shared across stages: Kafka, S3, the database, the environment.

A stage that needs one of these imports it from here; a literal copy elsewhere is a bug
(tests/unit/test_architecture.py looks for them). Files that cannot import (vector.toml, the
systemd unit, the host's scripts) are tied to these by tests.
"""

from __future__ import annotations

# Kafka: the producer writes, Vector (and the one-box sink) reads. Key: the symbol.
TOPIC = "cryptotrades"

# S3: Vector's key_prefix starts with TRADES_PREFIX (Hive-style date=/hour=/minute=); the bucket
# notifies the Lambda for that prefix only. The Lambda quarantines bad lines under
# REJECTED_PREFIX, outside TRADES_PREFIX, so a quarantine object never triggers it again.
TRADES_PREFIX = "trades/"
REJECTED_PREFIX = "rejected/"
# What follows TRADES_PREFIX in a key (strftime of the Kafka record time; vector/vector.toml's
# key_prefix); `cryptotrades rebuild` lists the raw objects of an hour by it.
TRADES_KEY_TIME_FORMAT = "date=%Y-%m-%d/hour=%H/minute=%M/"

# The database: a URL for local runs (sqlite:///... or mysql://...), or on AWS a secret.
DATABASE_NAME = "cryptotrades"

# The one-box keeps everything under one directory; its SQLite database is the default of
# every command that reads minute rows (status, dashboard, gaps ...).
ONEBOX_DIR = "data/onebox"
ONEBOX_DB_FILE = "cryptotrades.db"
DEFAULT_DB_URL = f"sqlite:///{ONEBOX_DIR}/{ONEBOX_DB_FILE}"

# The aggregator Lambda: its handlers (Lambda's "module.function" setting; the one-box runner
# loads the handler by this name, as the Lambda runtime does), its Powertools service name and
# the CloudWatch namespace of its metrics, by default.
AGGREGATOR_HANDLER = "lambda_aggregator.handler.lambda_handler"
SCHEMA_HANDLER = "lambda_aggregator.schema.on_event"
FRESHNESS_HANDLER = "lambda_aggregator.freshness.lambda_handler"  # read-only probe (check-deployment)
AGGREGATOR_SERVICE_NAME = "cryptotrades-aggregator"
METRICS_NAMESPACE = "cryptotrades"
# Metrics the aggregator emits that the CDK app alarms on (docs/aggregator.md, infra/alarms.py).
LATE_OBJECTS_METRIC = "LateObjects"  # objects with trades for final minutes (not stored)
MINUTES_DISAGREEING_METRIC = "MinutesDisagreeing"  # minutes whose row differs from Binance's kline
MINUTES_WITHOUT_ROW_METRIC = "MinutesWithoutRow"  # klines with trades and no minute row

# The producer's health endpoint on its host (systemd unit, check-deployment, one-box).
HEALTH_PORT = 9108

# Environment variables read by more than one stage, or set by one stage for another
# (the CDK app for the Lambda, the host's unit files for Vector, the one-box for every stage).
DB_URL_ENV = "CRYPTOTRADES_DB_URL"  # aggregator, dashboard, CLI: sqlite:///... or mysql://...
DB_SECRET_ARN_ENV = "CRYPTOTRADES_DB_SECRET_ARN"  # aggregator on AWS: the RDS secret
DB_TLS_ENV = "CRYPTOTRADES_DB_TLS"  # verify | encrypt | off
DB_CA_FILE_ENV = "CRYPTOTRADES_DB_CA_FILE"  # the CA bundle `verify` checks the server against
QUARANTINE_PREFIX_ENV = "CRYPTOTRADES_QUARANTINE_PREFIX"  # where the aggregator puts rejected lines
KAFKA_BOOTSTRAP_ENV = "CRYPTOTRADES_KAFKA_BOOTSTRAP"  # producer, Vector, one-box
TOPIC_ENV = "CRYPTOTRADES_TOPIC"  # producer, the host's topic unit
BUCKET_ENV = "CRYPTOTRADES_BUCKET"  # Vector, one-box
REGION_ENV = "AWS_REGION"  # every AWS SDK, Vector
POWERTOOLS_SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"  # the aggregator's logger and metrics
POWERTOOLS_METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"

# Raw trades the database keeps, in days: longer than the dead-letter queue keeps a failed
# event (14 days) plus the 6 hours an event may wait for its tries, so a redriven event still
# finds its minutes open. Older minutes are final (docs/aggregator.md).
RETENTION_DAYS = 16
