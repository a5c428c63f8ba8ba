"""Redis timeouts for the surfaces an operator waits on: the dashboard, the commands, the metrics.

A worker's blocking waits need no timeout; a page or a command does: a hung Redis must answer an
error within seconds, not after redis-py's retries (a minute)."""

from __future__ import annotations

from collections.abc import Iterable

from redis.backoff import NoBackoff
from redis.retry import Retry

from ..databases import databases_of
from ..models import BaseJobsModel

#: Seconds a command of an interactive surface waits for Redis (to connect, then to answer).
INTERACTIVE_TIMEOUT = 1.0


def use_timeouts(seconds: float = INTERACTIVE_TIMEOUT, models: Iterable[type] = (BaseJobsModel,)) -> None:
    """Connect these models' databases with socket timeouts of ``seconds`` and no retry."""
    for database in databases_of(models):
        settings = dict(database.connection_settings)
        settings.update(socket_timeout=seconds, socket_connect_timeout=seconds, retry=Retry(NoBackoff(), 0))
        database.reset(**settings)
