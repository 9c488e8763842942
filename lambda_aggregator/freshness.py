"""How fresh the minute rows are: a read-only function for ``cryptotrades check-deployment``.

It signs in as the ``dashboard`` user (SELECT only), so whoever may invoke it learns the
newest minute per symbol and when the last object was processed, and can change nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from lambda_aggregator.handler import open_configured_store
from lambda_aggregator.settings import AggregatorSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="cryptotrades-freshness")
NEWEST_MINUTES = "SELECT symbol, MAX(TIME) FROM trade_minutes GROUP BY symbol ORDER BY symbol"
LAST_OBJECT = "SELECT COUNT(*), MAX(processed_at) FROM processed_objects"


def report(
    newest: Sequence[tuple[str, datetime]], ledger: tuple[int, datetime | None], now: datetime
) -> dict[str, Any]:
    """The answer, from what the queries returned (naive datetimes are UTC, as the database's are)."""

    def utc(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    objects, last_processed = ledger
    return {
        "now": now.isoformat(),
        "symbols": {
            symbol: {
                "newest_minute": utc(minute).isoformat(),
                "age_seconds": int((now - utc(minute)).total_seconds()),
            }
            for symbol, minute in newest
        },
        "objects_processed": int(objects),
        "last_object_processed": utc(last_processed).isoformat() if last_processed else None,
    }


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Invoked now and then by hand: a connection per call, closed at once, holds no slot.
    with open_configured_store(AggregatorSettings.from_env()) as store:
        newest = [(str(symbol), minute) for symbol, minute in store.execute(NEWEST_MINUTES)]
        ((objects, last_processed),) = store.execute(LAST_OBJECT)
    return report(newest, (objects, last_processed), datetime.now(UTC))
