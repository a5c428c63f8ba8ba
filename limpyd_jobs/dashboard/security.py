"""Who may see the dashboard and act on it: a token or HTTP basic credentials, the CSRF token of
each session, and the ``next`` URLs actions go back to."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import Request, session

#: The session keys the dashboard uses.
CSRF_KEY = "csrf"
AUTH_KEY = "auth"


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

    def allows(self, request: Request) -> bool:
        """Whether the request comes with valid credentials, or from a session logged in."""
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
            return _same(session.get(AUTH_KEY, ""), self.token_fingerprint())
        return False

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
