"""Values shared by the models, the worker and the command line."""

from __future__ import annotations


class STATUSES:
    """The one-letter statuses stored in a job's ``status`` field."""

    WAITING = "w"
    RUNNING = "r"
    SUCCESS = "s"
    ERROR = "e"
    CANCELED = "c"
    DELAYED = "d"

    @classmethod
    def by_value(cls, value: str, default: str | None = None) -> str | None:
        """Return the name of the status stored as ``value`` (``"s"`` -> ``"SUCCESS"``)."""
        for name in ("WAITING", "RUNNING", "SUCCESS", "ERROR", "CANCELED", "DELAYED"):
            if getattr(cls, name) == value:
                return name
        return default

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every valid stored value."""
        return (cls.WAITING, cls.RUNNING, cls.SUCCESS, cls.ERROR, cls.CANCELED, cls.DELAYED)


#: Name of the logger used by workers unless ``logger_name`` says otherwise.
LOGGER_NAME = "limpyd-jobs"

#: Seconds a job set to DELAYED without a usable ``delayed_until`` is delayed for.
DEFAULT_DELAY = 60
