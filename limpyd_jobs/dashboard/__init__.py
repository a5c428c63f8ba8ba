"""A web dashboard: queues, jobs, workers, schedules, pending jobs, and operators' actions.

``create_app(token=...)`` makes a WSGI application (serve it, or mount it under a prefix);
``limpyd-jobs-dashboard`` serves it. Actions go through ``limpyd_jobs.operations``; reading a
page writes nothing. Why Flask: docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]

INSTALL_HINT = "the dashboard needs Flask: pip install 'limpyd-jobs[dashboard]'"


def __getattr__(name: str) -> Any:
    # create_app is imported when asked for, so that the command can say what is missing
    if name == "create_app":
        try:
            from .app import create_app
        except ModuleNotFoundError as exc:
            if exc.name in ("flask", "werkzeug", "jinja2"):
                raise ModuleNotFoundError(f"{INSTALL_HINT} ({exc})", name=exc.name) from None
            raise
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
