"""A health view any app can mount: ``app.add_url_rule("/healthz", view_func=health)``.

200 ``{"status": "ok", "broker": "ok", "config": "ok", "fingerprint": ...}`` when the broker accepts a
connection; 503 within 2 s when it does not. ``config`` is ``"stale"`` while a changed deployment file is
refused. ``broker`` is left out when the app binds no Celery placeholder; ``config`` and ``fingerprint``
when it does not use ``ConfigService``. When a provider gives the broker's or the backend's credentials,
``credentials`` says ``ok``, ``refresh failing`` (the current credential is kept until it expires) or
``expired`` (503, and ``broker`` says ``credentials expired``: no connection is opened with it), and
``credentials_expire_at`` when the earliest of them expires.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from flask import jsonify
from flask.typing import ResponseReturnValue

from configsvc.flask.flask_internals import current_flask_app
from configsvc.flask.state import find_state

BROKER_CHECK_SECONDS = 1.5


@runtime_checkable
class BrokerProbe(Protocol):
    """What the health view asks of ``app.extensions["celery"]`` (a :class:`configsvc.celery.FlaskCelery`)."""

    def broker_reachable(self, timeout: float = ...) -> bool: ...

    def credentials_status(self) -> dict[str, Any]: ...


def health() -> ResponseReturnValue:
    """The view: the broker's and the configuration's state, without a value from either."""
    app = current_flask_app()
    body: dict[str, Any] = {"status": "ok"}
    healthy = True
    probe = app.extensions.get("celery")
    if isinstance(probe, BrokerProbe):
        credentials = probe.credentials_status()
        if credentials.get("credentials") == "expired":
            # No connection is opened with an expired credential: the broker is not asked (and not called
            # unreachable when it is not).
            healthy = False
            body["broker"] = "credentials expired"
        else:
            healthy = probe.broker_reachable(timeout=BROKER_CHECK_SECONDS)
            body["broker"] = "ok" if healthy else "unreachable"
        body.update(credentials)
    state = find_state(app)
    if state is not None:
        body["config"] = state.state
        body["fingerprint"] = state.fingerprint
        if state.pending is not None:  # rollout.mode staged: read, valid, waiting for configsvc rollout
            body["pending"] = state.pending
    if not healthy:
        body["status"] = "error"
    return jsonify(body), 200 if healthy else 503
