"""Who may see the dashboard and act on it: the hosts it answers for, a token or HTTP basic
credentials, the sessions (revoked at logout, of a limited lifetime), the backoff after failed
attempts, the CSRF token of each session, and the ``next`` URLs actions go back to."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Request, session

#: The session keys the dashboard uses.
CSRF_KEY = "csrf"
AUTH_KEY = "auth"
SESSION_ID_KEY = "sid"
LOGIN_AT_KEY = "at"
#: The names of this machine a dashboard answers for by default (with the address it listens on).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Failed attempts from an address before the backoff starts, and the longest wait it imposes.
FREE_ATTEMPTS = 5
MAX_BACKOFF = 300.0
#: Addresses (and revoked sessions) remembered at most: the oldest are forgotten first.
REMEMBERED = 10_000


def host_name(header: str) -> str:
    """The host name of a ``Host`` header, without its port, in lower case (IPv6 without brackets)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(value: str | Iterable[str] | None, bound: str | None = None) -> frozenset[str] | None:
    """The host names a dashboard answers for: ``value`` (comma-separated or a list; ``*``: any,
    None), by default this machine's names and the address it listens on (``bound``)."""
    if value is None or value == "":
        names = [*LOCAL_HOSTS, *([bound] if bound and bound not in ("0.0.0.0", "::") else [])]
    else:
        names = value.split(",") if isinstance(value, str) else list(value)
    cleaned = {host_name(name) if not name.strip().startswith("*") else "*" for name in names if name.strip()}
    return None if "*" in cleaned else frozenset(cleaned)


class Sessions:
    """Logged-in sessions: each has an id, and its login time; logout revokes the id here (the
    cookie alone no longer opens the dashboard), and a session older than ``lifetime`` seconds
    is refused."""

    def __init__(self, lifetime: float, clock: Callable[[], float]) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._revoked: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Start a session (at login): a new id, the login time, a new CSRF token."""
        session.clear()
        session[SESSION_ID_KEY] = secrets.token_urlsafe(24)
        session[LOGIN_AT_KEY] = self.clock()
        session[CSRF_KEY] = ""
        session.permanent = True

    def valid(self) -> bool:
        """Whether the session of the request is open: not revoked, not older than the lifetime."""
        sid, at = session.get(SESSION_ID_KEY), session.get(LOGIN_AT_KEY)
        if not isinstance(sid, str) or not isinstance(at, (int, float)):
            return False
        now = self.clock()
        if not at <= now < at + self.lifetime:
            return False
        with self._lock:
            return sid not in self._revoked

    def close(self) -> None:
        """End the session of the request (logout): its id is revoked until it would have expired."""
        sid, at = session.get(SESSION_ID_KEY), session.get(LOGIN_AT_KEY)
        if isinstance(sid, str):
            now = self.clock()
            with self._lock:
                for old in [old for old, until in self._revoked.items() if until <= now]:
                    del self._revoked[old]
                while len(self._revoked) >= REMEMBERED:
                    self._revoked.popitem(last=False)
                ending = at + self.lifetime if isinstance(at, (int, float)) else now + self.lifetime
                self._revoked[sid] = max(ending, now)
        session.clear()


class Backoff:
    """Failed attempts (a wrong token, password...) by address: after FREE_ATTEMPTS, each new
    attempt must wait twice as long as the one before (at most MAX_BACKOFF seconds)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, address: str) -> float:
        """Seconds before ``address`` may try again (0: now)."""
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
        if count < FREE_ATTEMPTS:
            return 0.0
        return max(0.0, last + min(2.0 ** (count - FREE_ATTEMPTS), MAX_BACKOFF) - self.clock())

    def failed(self, address: str) -> None:
        with self._lock:
            count, _ = self._failures.pop(address, (0, 0.0))
            self._failures[address] = (count + 1, self.clock())
            while len(self._failures) > REMEMBERED:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


@dataclass(frozen=True)
class Credentials:
    """What gives access: a token (``Authorization: Bearer`` or the login form), and/or a
    user and password for HTTP basic auth. Neither: the dashboard is open."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @property
    def required(self) -> bool:
        return bool(self.token or self.user)

    def token_fingerprint(self) -> str:
        """What a session logged in with the token keeps: changing the token logs it out."""
        return hashlib.sha256(f"limpyd-jobs-dashboard:{self.token}".encode()).hexdigest()

    def allows(self, request: Request, sessions: Sessions | None = None) -> bool:
        """Whether the request comes with valid credentials, or from a session logged in (and,
        given ``sessions``, still open)."""
        if not self.required:
            return True
        if self.user is not None and request.authorization is not None \
                and request.authorization.type == "basic":
            given_user = request.authorization.username or ""
            given_password = request.authorization.password or ""
            if _same(given_user, self.user) & _same(given_password, self.password or ""):
                return True
        if self.token:
            header = request.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and _same(value.strip(), self.token):
                return True
            logged_in = _same(str(session.get(AUTH_KEY, "")), self.token_fingerprint())
            return logged_in and (sessions is None or sessions.valid())
        return False

    @staticmethod
    def attempted(request: Request) -> bool:
        """Whether the request carries credentials of its own (an Authorization header)."""
        return bool(request.headers.get("Authorization"))

    def check_token(self, given: str) -> bool:
        """Whether a token typed in the login form is the one."""
        return bool(self.token) and _same(given, self.token or "")


def parse_basic_auth(value: str) -> tuple[str, str]:
    """``USER:PASS`` as (user, password); ValueError when there is no user or no ``:``."""
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise ValueError("basic auth must be given as USER:PASSWORD")
    return user, password


def _same(given: str, expected: str) -> bool:
    """Compare secrets in constant time."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def csrf_token() -> str:
    """The CSRF token of this session (made on first use): every form of the dashboard posts it."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_valid(given: str | None) -> bool:
    """Whether a posted CSRF token is this session's."""
    expected = session.get(CSRF_KEY)
    return bool(given and expected) and _same(given or "", expected or "")


def local_path(value: str | None) -> str | None:
    """``value`` if it is a path of this site (``/...``, not ``//host`` nor a URL), else None: where
    an action may send the browser back to, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(ord(char) < 32 for char in value):
        return None
    return value
