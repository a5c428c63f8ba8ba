"""Values shared by the worker and the commands (the Redis vocabulary is in ``protocol``)."""

from __future__ import annotations

#: The version of limpyd-jobs (``limpyd_jobs.__version__``).
__version__ = "3.0.0.dev0"

#: The environment variable of the prefix of every key (``protocol.vocabulary`` reads it; on a
#: Redis Cluster, a hash tag such as ``{jobs}``, whose slot the clients serve).
PREFIX_VARIABLE = "LIMPYD_JOBS_PREFIX"

#: Name of the logger used by workers unless ``logger_name`` says otherwise.
LOGGER_NAME = "limpyd-jobs"

#: Seconds a job set to DELAYED without a usable ``delayed_until`` is delayed for.
DEFAULT_DELAY = 60

#: Seconds between two looks of a busy worker at the control key (``HALT``).
CONTROL_CHECK_DELAY = 1.0
