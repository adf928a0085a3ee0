"""HTTP helpers for tests: one real request, and a TCP forwarder that can play "the broker is down"."""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import suppress

from tests.support.processes import free_port


def http(method: str, url: str, body: object | None = None, timeout: float = 10) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
    """(status, JSON body, headers) of one real HTTP request."""
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


class Forwarder:
    """A TCP forwarder on localhost to a real server, which a test can cut and restore ("broker down")."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target_port = target_port
        self.port = free_port()
        self._threading = threading
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = 0  # connections accepted so far (the rotation benchmark counts pre-flights)

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a broker going down does."""
        if self._listener is not None:
            # shutdown() first: a close() alone leaves the accept() blocked in the other thread
            # listening (Linux), and it would take the reconnect a cut client makes right after.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._connections:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # stopped while this connection came in
                client.close()
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            # The 5 s bound the connect only: left on the socket it ended the pipe whenever the server
            # said nothing for 5 s, cutting an idle connection as if the broker had dropped it (a worker's
            # remote-control connection, or its consumer when the load paused, under a slow full run).
            upstream.settimeout(None)
            with self._lock:
                self._connections += [client, upstream]
            from_client, from_server = self.taps(self.accepted)
            for a, b, tap in ((client, upstream, from_client), (upstream, client, from_server)):
                self._threading.Thread(target=self._pipe, args=(a, b, tap), daemon=True).start()

    def taps(self, connection: int) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
        """What sees the bytes of connection number ``connection``: (from the client, from the server)."""
        return _ignore, _ignore

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, tap: Callable[[bytes], None]) -> None:
        try:
            while data := source.recv(65536):
                tap(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def _ignore(data: bytes) -> None:
    pass
