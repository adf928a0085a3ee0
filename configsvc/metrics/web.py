"""The web app's metrics route (``metrics.path``, ``/metrics`` by default): one answer for every process
of the server it runs in (gunicorn's workers share the server's folder, :mod:`.folder`)."""

from __future__ import annotations

from flask import Flask, Response, request

from configsvc import metrics
from configsvc.flask.state import ConfigState
from configsvc.metrics.serving import authorized

ENDPOINT = "configsvc_metrics"


def serve_on_app(app: Flask, state: ConfigState) -> None:
    """Enable metrics in this process and add the route to ``app`` (at the path configured at start)."""
    folder = metrics.enable()
    path = str(state.config.reveal("metrics.path") or "/metrics")

    def configsvc_metrics() -> Response:
        token = state.config.reveal("metrics.token")  # the running configuration's: a new one applies now
        if not authorized(request.headers.get("Authorization"), str(token) if token else None):
            return Response("metrics need Authorization: Bearer <metrics.token>\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
        from configsvc.metrics.prometheus import scrape

        body, content_type = scrape(folder, request.headers.get("Accept"))
        return Response(body, 200, content_type=content_type)

    app.add_url_rule(path, ENDPOINT, configsvc_metrics, methods=["GET"])
