"""Command-line entry points (argument handling only; the logic lives in the package)."""

from __future__ import annotations

import sys

from ..config import RET_CONNECT
from ..connection import describe
from ..models import BaseJobsModel


def redis_failed(program: str, error: Exception) -> int:
    """Say which Redis a command could not use, and why; return the exit code for it."""
    where = describe(BaseJobsModel.database.connection_settings)
    sys.stderr.write(f"{program}: error: Redis at {where}: {error}\n")
    return RET_CONNECT
