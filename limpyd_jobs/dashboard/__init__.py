"""A web dashboard for limpyd-jobs: queues, jobs (with their history and tracebacks), workers,
recurring schedules and pending jobs, and the operators' actions, server-rendered.

    from limpyd_jobs.dashboard import create_app

    app = create_app(token="...")  # a WSGI application: serve it, or mount it under a prefix

or ``limpyd-jobs-dashboard --port 9181`` (``pip install 'limpyd-jobs[dashboard]'``).

Why Flask: the dashboard is a handful of server-rendered pages and a few POST actions, so it
needs routing, a template engine that escapes by default, a signed session cookie (for the CSRF
token and the login) and a test client, and nothing else. Flask gives exactly that, through
Jinja2 (autoescaping of every ``.html`` template: identifiers, tracebacks and every other value
read from Redis stay text) and Werkzeug (the test client, the threaded server the command and the
browser tests run). It is a WSGI application, so it mounts under a prefix in a Django or Flask
site (Werkzeug's ``DispatcherMiddleware``) and runs under any WSGI server; it is the framework of
rq-dashboard, so it is what operators of Python job queues know; and it is a small, long-lived,
well-kept project (Pallets) with few dependencies. Starlette is ASGI (a Django or Flask site
cannot mount it as it is) and Bottle's template engine is a weaker escaper; neither gains us
anything here. No front-end build: one small script (no dependency) refreshes the counts, shows
the times in the viewer's time zone and asks for confirmations.

Every action goes through ``limpyd_jobs.operations`` (or ``limpyd_jobs.recurring``); reading a
page writes nothing to Redis.
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
