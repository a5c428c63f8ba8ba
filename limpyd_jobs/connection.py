"""Where the models connect: ``REDIS_URL`` when set, else localhost:6379 db 0.

``REDIS_URL`` is read when the models first use their database, never at import: a malformed
one is said (naming it) then, and a database given otherwise (``--database``) wins unread.

URLs are read by redis-py's own ``parse_url`` (``redis://``, ``rediss://``, ``unix://``, with
their query options such as ``?ssl_cert_reqs=none``) into the keyword arguments of ``redis.Redis``;
``redis+sentinel://`` (``rediss+sentinel://``: TLS) names sentinels and a service instead of a
server, ``redis+cluster://`` (``rediss+cluster://``) some nodes of a Redis Cluster, and
``?replicas=N`` makes acknowledged writes wait for N replicas (``client_for``), ``?shards=S``
spreads the queues over S job databases (``shards``).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlparse

import redis
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.sentinel import Sentinel

from . import shards
from .cluster import slot_client
from .constants import PREFIX_VARIABLE
from .exceptions import ConfigurationException

DEFAULT_SETTINGS: dict[str, Any] = {"host": "localhost", "port": 6379, "db": 0}
#: The environment variable giving the Redis URL of the models.
URL_VARIABLE = "REDIS_URL"
#: The schemes of a URL naming sentinels (the second one: TLS to the sentinels and the master).
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
#: The schemes of a URL naming nodes of a Redis Cluster (the second one: TLS).
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
#: Settings that are not ``redis.Redis()`` arguments: the sentinels' and those of acknowledged writes.
SENTINEL_ONLY = ("sentinels", "service_name", "sentinel_password", "sentinel_username")
#: The port of a sentinel given without one.
SENTINEL_PORT = 26379
#: Milliseconds an acknowledged write waits for its replicas, unless ``?replicas_timeout=`` says.
REPLICAS_TIMEOUT_MS = 2000


def is_cluster(settings: dict[str, Any]) -> bool:
    """Whether settings name the nodes of a Redis Cluster."""
    return "cluster_nodes" in settings


def settings_from_url(url: str) -> dict[str, Any]:
    """Turn a ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://`` or ``redis+cluster://``
    URL into settings: ``redis.Redis()`` kwargs (with the sentinels or cluster nodes, and
    ``replicas``, as ``client_for`` reads them).

    Raises ConfigurationException saying why not (the URL quoted with its password masked)."""
    url, replicas = _replicas_of(url)
    url, sharding = _shards_of(url)
    scheme = url.partition("://")[0]
    if scheme in SENTINEL_SCHEMES:
        settings = _sentinel_settings(url)
    elif scheme in CLUSTER_SCHEMES:
        settings = _cluster_settings(url)
    else:
        settings = _server_settings(url)
    settings.update(replicas)
    settings.update(sharding)
    return settings


def _shards_of(url: str) -> tuple[str, dict[str, Any]]:
    """The URL without ``shards`` and ``shard_table`` in its query, and their values (``shards``)."""
    parsed = urlparse(url)
    if "shard" not in parsed.query:
        return url, {}
    query = parse_qsl(parsed.query, keep_blank_values=True)
    options = dict(query)
    if "shard_table" in options and "shards" not in options:
        raise ConfigurationException(f"{masked(url)!r}: shard_table needs shards=S")
    count = shards.read_count(options.get("shards"), repr(masked(url)))
    table = shards.read_table(options.get("shard_table"), count, repr(masked(url)))
    rest = [(name, value) for name, value in query if name not in ("shards", "shard_table")]
    found = {"shards": count, "shard_table": table} if "shards" in options else {}
    return parsed._replace(query=urlencode(rest)).geturl(), found


def _replicas_of(url: str) -> tuple[str, dict[str, int]]:
    """The URL without ``replicas`` and ``replicas_timeout`` in its query, and their values."""
    parsed = urlparse(url)
    if "replicas" not in parsed.query:
        return url, {}
    query = parse_qsl(parsed.query, keep_blank_values=True)
    found: dict[str, int] = {}
    for name, value in query:
        if name in ("replicas", "replicas_timeout"):
            if not value.isdigit():
                raise ConfigurationException(f"{masked(url)!r}: {name} must be a whole number, not {value!r}")
            found[name] = int(value)
    if "replicas_timeout" in found and "replicas" not in found:
        raise ConfigurationException(f"{masked(url)!r}: replicas_timeout without replicas")
    if not found.get("replicas"):
        found = {}
    else:
        found.setdefault("replicas_timeout", REPLICAS_TIMEOUT_MS)
    rest = [(name, value) for name, value in query if name not in ("replicas", "replicas_timeout")]
    return parsed._replace(query=urlencode(rest)).geturl(), found


def _addresses(url: str, hosts: str, default_port: int | None, what: str) -> list[tuple[str, int]]:
    """The ``host:port`` addresses of a comma-separated list (``default_port`` when one has none)."""
    addresses = []
    for address in hosts.split(","):
        address = address.strip()
        host, colon, port = address.rpartition(":")
        if (not colon or "]" in port) and default_port:  # no port given
            host, port = address, str(default_port)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationException(f"{masked(url)!r}: {address!r} is not host:port (a {what})")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _cluster_settings(url: str) -> dict[str, Any]:
    """``redis+cluster://[user:password@]host:port[,host:port...][/0][?options]``: some nodes of
    a Redis Cluster (the others are found through them); the options are those of ``redis://``."""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    nodes = _addresses(url, hosts, None, "cluster node")
    if path.strip("/") not in ("", "0"):
        raise ConfigurationException(f"{masked(url)!r}: a Redis Cluster has only database 0, not {path!r}")
    server = "rediss" if scheme.startswith("rediss") else "redis"
    userpart = f"{userinfo}@" if userinfo else ""
    settings = _server_settings(f"{server}://{userpart}cluster/0?{query}", shown=url)
    for name in ("host", "port", "db"):
        settings.pop(name, None)
    settings["cluster_nodes"] = tuple(nodes)
    return settings


def _sentinel_settings(url: str) -> dict[str, Any]:
    """``redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db][?options]``:
    the options are those of ``redis://`` URLs (for the master), and ``sentinel_password``,
    ``sentinel_username`` (for the sentinels)."""
    scheme, _, rest = url.partition("://")
    netloc, _, path_query = rest.partition("/")
    path, _, query = path_query.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    sentinels = _addresses(url, hosts, SENTINEL_PORT, "sentinel")
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise ConfigurationException(f"{masked(url)!r}: the path must be /service_name or /service_name/db")
    if len(parts) == 2 and not parts[1].isdigit():
        raise ConfigurationException(f"{masked(url)!r}: the database number {parts[1]!r} is not an integer")
    options = dict(parse_qsl(query, keep_blank_values=True))
    sentinel_options = {name: options.pop(name) for name in ("sentinel_password", "sentinel_username")
                        if name in options}
    server = "rediss" if scheme.startswith("rediss") else "redis"
    userpart = f"{userinfo}@" if userinfo else ""
    dbpart = parts[1] if len(parts) == 2 else "0"
    settings = _server_settings(f"{server}://{userpart}sentinel/{dbpart}?{urlencode(options)}", shown=url)
    settings.pop("host", None)
    settings.pop("port", None)
    settings.update(sentinels=tuple(sentinels), service_name=unquote(parts[0]), **sentinel_options)
    return settings


def _server_settings(url: str, shown: str | None = None) -> dict[str, Any]:
    """``redis://``, ``rediss://``, ``unix://``: redis-py's reading of the URL, checked."""
    shown = shown or url
    try:
        settings = parse_url(url)
    except ValueError as exc:
        raise ConfigurationException(f"{masked(shown)!r}: {exc}") from None
    parsed = urlparse(url)
    connection_class = settings.pop("connection_class", None)
    if connection_class is UnixDomainSocketConnection:
        if not settings.get("path"):
            raise ConfigurationException(f"{masked(shown)!r}: a unix:// URL needs a socket path")
        settings["unix_socket_path"] = settings.pop("path")
    else:
        path = (parsed.path or "/").lstrip("/")
        if path and not path.isdigit():  # parse_url ignores a database that is not a number
            raise ConfigurationException(f"{masked(shown)!r}: the database number {path!r} is not an integer")
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


def client_for(settings: dict[str, Any], route: str | None = None, **overrides: Any) -> redis.Redis:
    """A ``redis.Redis`` for these settings (``overrides`` added): on the server they name, or on
    the master the sentinels name, found again through them after a failover; on a Redis
    Cluster, on the master of the slot of ``route`` (default: the current shard's prefix, else
    ``LIMPYD_JOBS_PREFIX``'s hash tag; ``cluster.slot_client``)."""
    settings = {**settings, **overrides}
    for name in ("replicas", "replicas_timeout", "shards", "shard_table"):
        settings.pop(name, None)
    if "cluster_nodes" in settings:
        route = route or shards.prefix() or os.environ.get(PREFIX_VARIABLE) or ""  # the keys' prefix
        if "{" not in route:
            raise ConfigurationException(f"a Redis Cluster needs {PREFIX_VARIABLE} to be a hash tag "
                                         f"('{{jobs}}', every key in one slot), not {route!r}")
        settings.pop("db", None)
        return slot_client(list(settings.pop("cluster_nodes")), route, settings)
    if "sentinels" not in settings:
        return redis.Redis(**settings)
    sentinels, service = settings.pop("sentinels"), settings.pop("service_name")
    sentinel_kwargs = {name: settings[name] for name in settings
                       if name.startswith(("socket_", "ssl")) and settings[name] is not None}
    sentinel_kwargs.update(password=settings.pop("sentinel_password", None),
                           username=settings.pop("sentinel_username", None))
    return Sentinel(list(sentinels), sentinel_kwargs=sentinel_kwargs, **settings).master_for(
        service, redis_class=redis.Redis)


def replicas_of(settings: dict[str, Any]) -> tuple[int, int] | None:
    """(replicas, timeout in ms) an acknowledged write waits for (``?replicas=N``), if any."""
    replicas = settings.get("replicas")
    return (replicas, settings["replicas_timeout"]) if replicas else None


def describe(settings: dict[str, Any]) -> str:
    """A short human description of where settings point, for messages (never the password)."""
    if "sentinels" in settings:
        sentinels = ",".join(f"{host}:{port}" for host, port in settings["sentinels"])
        service = settings["service_name"]
        return f"the master of {service!r} (sentinels {sentinels}) db {settings.get('db', 0)}"
    if "cluster_nodes" in settings:
        nodes = ",".join(f"{host}:{port}" for host, port in settings["cluster_nodes"])
        return f"the Redis Cluster of {nodes}"
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
        return _masked_query(value)
    user = f"{parsed.username}:" if parsed.username else ":"
    netloc = parsed.netloc.replace(f"{user}{password}@", f"{user}***@", 1)
    return _masked_query(parsed._replace(netloc=netloc).geturl())


def _masked_query(value: str) -> str:
    """``value`` with the passwords of its query (``?password=``, ``?sentinel_password=``) masked."""
    parsed = urlparse(value)
    if "password" not in parsed.query:
        return value
    query = [(name, "***" if name.endswith("password") else part)
             for name, part in parse_qsl(parsed.query, keep_blank_values=True)]
    return parsed._replace(query=urlencode(query, safe="*")).geturl()
