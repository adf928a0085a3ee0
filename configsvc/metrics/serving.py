"""A worker's and beat's metrics endpoint: a small HTTP server in a thread of the process, on the first
free port of the configured range.

It answers ``GET`` on any path with the metrics of every process of the server (a prefork worker's main
process answers for its pool processes), asks for ``Authorization: Bearer <metrics.token>`` when a token
is set (read at each scrape: a new token applies at once), and never logs a request.
"""

from __future__ import annotations

import hmac
import logging
import socketserver
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

logger = logging.getLogger("configsvc.metrics")

Token = Callable[[], str | None]


def authorized(header: str | None, token: str | None) -> bool:
    """True when no token is set, or ``header`` is ``Bearer <token>`` (compared in constant time)."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class MetricsApp:
    """The WSGI app of the endpoint."""

    def __init__(self, folder: Path | None, token: Token) -> None:
        self.folder = folder
        self.token = token

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        if not authorized(environ.get("HTTP_AUTHORIZATION"), self.token()):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="metrics"'),
                                                ("Content-Type", "text/plain")])
            return [b"metrics need Authorization: Bearer <metrics.token>\n"]
        from configsvc.metrics.prometheus import scrape

        body, content_type = scrape(self.folder, environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(ports: tuple[int, int], app: MetricsApp, host: str = "") -> int | None:
    """Serve ``app`` on the first free port of ``ports`` (inclusive) in a daemon thread: the port, or
    None when every one is taken (one error line; the process runs on without metrics)."""
    low, high = ports
    for port in range(low, high + 1):
        try:
            server = make_server(host, port, app, server_class=_Server, handler_class=_Quiet)
        except OSError:
            continue
        thread = threading.Thread(target=server.serve_forever, name="configsvc-metrics", daemon=True)
        thread.start()
        return port
    where = f"port {low}" if low == high else f"ports {low}-{high}"
    logger.error("configsvc: metrics not served: %s taken (metrics.*_port); running on without them", where)
    return None
