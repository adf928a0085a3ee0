"""Flask's signed-cookie sessions, without their per-request setup cost.

Flask's ``SecureCookieSessionInterface`` builds a new signing serializer (itsdangerous, which also
serializes an empty dict to learn its own type) on every request, and parses the ``Cookie`` header even
when there is none. With a ``secret_key`` configured that is most of what a small JSON view costs beyond
its own work. This interface keeps the serializer until ``SECRET_KEY`` or ``SECRET_KEY_FALLBACKS`` change
(a reload that rotates them gets a new one at the next request), and opens an empty session at once for a
request that carries no cookie. Behaviour is otherwise Flask's own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class ReusingCookieSessionInterface(SecureCookieSessionInterface):
    """``SecureCookieSessionInterface`` that reuses its signing serializer while the keys stay the same."""

    def __init__(self) -> None:
        self._cached: tuple[tuple[Any, ...], URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for the app's current keys (None without a ``secret_key``, as Flask's)."""
        if not app.secret_key:
            return None
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is not None and cached[0] == keys:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        if serializer is not None:
            self._cached = (keys, serializer)
        return serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's ``open_session``; a request without any cookie gets an empty session directly."""
        if "HTTP_COOKIE" not in request.environ:
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Flask's ``save_session``; a session nobody touched needs nothing (Flask would read seven cookie
        settings first, then do nothing)."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def reuse_session_serializer(app: Flask) -> None:
    """Give ``app`` the reusing interface, unless the app chose a session interface of its own."""
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = ReusingCookieSessionInterface()
