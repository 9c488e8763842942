"""Names and defaults shared across stages: Kafka, S3, the database, the environment.

A stage that needs one of these imports it from here; a literal copy elsewhere is a bug
(tests/unit/test_architecture.py looks for some of them).
"""

from __future__ import annotations

# Kafka: the producer writes, Vector (and the one-box sink) reads. Key: the symbol.
TOPIC = "cryptotrades"

# S3: Vector's key_prefix starts with TRADES_PREFIX (Hive-style date=/hour=/minute=); the bucket
# notifies the Lambda for that prefix only. The Lambda quarantines bad lines under
# REJECTED_PREFIX, outside TRADES_PREFIX, so a quarantine object never triggers it again.
TRADES_PREFIX = "trades/"
REJECTED_PREFIX = "rejected/"

# The database: a URL for local runs (sqlite:///... or mysql://...), or on AWS a secret.
DB_URL_ENV = "CRYPTOTRADES_DB_URL"
DATABASE_NAME = "cryptotrades"

# The one-box keeps everything under one directory; its SQLite database is the default of
# every command that reads minute rows (status, dashboard, gaps ...).
ONEBOX_DIR = "data/onebox"
DEFAULT_DB_URL = f"sqlite:///{ONEBOX_DIR}/cryptotrades.db"

# Metrics: the CloudWatch namespace of the aggregator's metrics (Powertools), by default.
METRICS_NAMESPACE = "cryptotrades"

# The producer's health endpoint on its host (systemd unit, check-deployment, one-box).
HEALTH_PORT = 9108
