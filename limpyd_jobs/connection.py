"""Where the models connect: ``REDIS_URL`` when set, else localhost:6379 db 0.

``REDIS_URL`` is read when the models first use their database, never at import: a malformed
one is said (naming it) then, and a database given otherwise (``--database``) wins unread.

URLs are read by redis-py's own ``parse_url`` (``redis://``, ``rediss://``, ``unix://``, with
their query options such as ``?ssl_cert_reqs=none``), then turned into the keyword arguments of
``redis.Redis`` that limpyd's databases take.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

from .exceptions import ConfigurationException

DEFAULT_SETTINGS: dict[str, Any] = {"host": "localhost", "port": 6379, "db": 0}
#: The environment variable giving the Redis URL of the models.
URL_VARIABLE = "REDIS_URL"


def settings_from_url(url: str) -> dict[str, Any]:
    """Turn a ``redis://``, ``rediss://`` or ``unix://`` URL into ``redis.Redis()`` kwargs.

    Raises ConfigurationException saying why not (the URL quoted with its password masked)."""
    try:
        settings = parse_url(url)
    except ValueError as exc:
        raise ConfigurationException(f"{masked(url)!r}: {exc}") from None
    parsed = urlparse(url)
    connection_class = settings.pop("connection_class", None)
    if connection_class is UnixDomainSocketConnection:
        if not settings.get("path"):
            raise ConfigurationException(f"{masked(url)!r}: a unix:// URL needs a socket path")
        settings["unix_socket_path"] = settings.pop("path")
    else:
        path = (parsed.path or "/").lstrip("/")
        if path and not path.isdigit():  # parse_url ignores a database that is not a number
            raise ConfigurationException(f"{masked(url)!r}: the database number {path!r} is not an integer")
        settings.setdefault("host", DEFAULT_SETTINGS["host"])
        settings.setdefault("port", DEFAULT_SETTINGS["port"])
        if connection_class is SSLConnection:
            settings["ssl"] = True
    settings.setdefault("db", 0)
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
        raise ConfigurationException(f"{value!r}: port and db must be integers (host:port:db)") from None
    return {"host": host, "port": port, "db": db}


def default_settings() -> dict[str, Any]:
    """Connection settings from ``REDIS_URL`` if set, else the defaults.

    Raises ConfigurationException naming ``REDIS_URL`` when it cannot be read."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        return dict(DEFAULT_SETTINGS)
    try:
        return settings_from_url(url)
    except ConfigurationException as exc:
        raise ConfigurationException(f"environment variable {URL_VARIABLE}: {exc}") from None


def describe(settings: dict[str, Any]) -> str:
    """A short human description of where settings point, for messages (never the password)."""
    if "unix_socket_path" in settings:
        return f"unix://{settings['unix_socket_path']} db {settings.get('db', 0)}"
    return f"{settings.get('host')}:{settings.get('port')} db {settings.get('db', 0)}"


def masked(value: str) -> str:
    """``value`` (host:port:db or a URL) with its password, if any, written ``***``."""
    if "://" not in value:
        return value
    try:
        parsed = urlparse(value)
        password = parsed.password
    except ValueError:  # unreadable: mask whatever stands before an '@'
        scheme, _, rest = value.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else value
    if password is None:
        return value
    user = f"{parsed.username}:" if parsed.username else ":"
    netloc = parsed.netloc.replace(f"{user}{password}@", f"{user}***@", 1)
    return parsed._replace(netloc=netloc).geturl()
