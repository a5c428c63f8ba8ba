"""Where the models connect: ``REDIS_URL`` when set, else localhost:6379 db 0."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlparse

from .exceptions import ConfigurationException

DEFAULT_SETTINGS: dict[str, Any] = {"host": "localhost", "port": 6379, "db": 0}


def settings_from_url(url: str) -> dict[str, Any]:
    """Turn a ``redis://``, ``rediss://`` or ``unix://`` URL into redis-py ``Redis()`` kwargs."""
    parsed = urlparse(url)
    settings: dict[str, Any] = {}
    if parsed.username:
        settings["username"] = unquote(parsed.username)
    if parsed.password:
        settings["password"] = unquote(parsed.password)
    query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    if parsed.scheme == "unix":
        if not parsed.path:
            raise ConfigurationException(f"{url!r}: a unix:// URL needs a socket path")
        settings["unix_socket_path"] = unquote(parsed.path)
        db = query.get("db", 0)
    elif parsed.scheme in ("redis", "rediss"):
        settings["host"] = parsed.hostname or "localhost"
        try:
            settings["port"] = parsed.port or 6379
        except ValueError as exc:
            raise ConfigurationException(f"{url!r}: invalid port ({exc})") from None
        db = (parsed.path or "/").lstrip("/") or query.get("db", 0)
        if parsed.scheme == "rediss":
            settings["ssl"] = True
    else:
        raise ConfigurationException(
            f"{url!r}: unsupported scheme {parsed.scheme!r}, use redis://, rediss:// or unix://"
        )
    try:
        settings["db"] = int(db)
    except ValueError:
        raise ConfigurationException(f"{url!r}: the database number {db!r} is not an integer") from None
    return settings


def settings_from_string(value: str) -> dict[str, Any]:
    """Read ``host:port:db`` (each part optional) or a Redis URL."""
    if "://" in value:
        return settings_from_url(value)
    parts = value.split(":")
    if len(parts) > 3:
        raise ConfigurationException(f"{value!r} is not host:port:db nor a redis:// URL")
    host = parts[0] or DEFAULT_SETTINGS["host"]
    try:
        port = int(parts[1]) if len(parts) > 1 and parts[1] else DEFAULT_SETTINGS["port"]
        db = int(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_SETTINGS["db"]
    except ValueError:
        raise ConfigurationException(
            f"{value!r}: port and db must be integers (host:port:db)"
        ) from None
    return {"host": host, "port": port, "db": db}


def default_settings() -> dict[str, Any]:
    """Connection settings from ``REDIS_URL`` if set, else the defaults."""
    url = os.environ.get("REDIS_URL")
    return settings_from_url(url) if url else dict(DEFAULT_SETTINGS)


def describe(settings: dict[str, Any]) -> str:
    """A short human description of where settings point, for error messages."""
    if "unix_socket_path" in settings:
        return f"unix://{settings['unix_socket_path']} db {settings.get('db', 0)}"
    return f"{settings.get('host')}:{settings.get('port')} db {settings.get('db', 0)}"
