"""HTTP routes."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from app.extensions import celery

bp = Blueprint("views", __name__)

BROKER_CHECK_SECONDS = 1.5  # /healthz answers within 2 s even when the broker is down


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the broker accepts a connection; 503 (within 2 s) when it does not."""
    broker_ok = celery.broker_reachable(timeout=BROKER_CHECK_SECONDS)
    body = {"status": "ok" if broker_ok else "error", "broker": "ok" if broker_ok else "unreachable",
            "config": "ok"}
    return jsonify(body), 200 if broker_ok else 503
