"""HTTP routes."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("views", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness: the configuration resolved (broker reachability comes with the web app issue)."""
    config = current_app.extensions["configsvc"]
    return jsonify(status="ok", config="ok", env=config.env)
