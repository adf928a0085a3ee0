"""What py-amqp lacks for renewing a token in place: ``connection.update-secret``. Checked against py-amqp
5.4.2, whose ``Connection`` knows methods 10.10 to 10.61 only.

RabbitMQ (3.8 and later) extends AMQP 0-9-1 with ``connection.update-secret`` (class 10, method 70:
``new-secret`` longstr, ``reason`` shortstr) and its reply ``update-secret-ok`` (10.71, no arguments):
the connection's user stays, its secret (an OAuth 2.0 token) is replaced, nothing is reopened. This
module teaches one py-amqp connection the reply (an instance-level copy of ``Connection._METHODS`` and
a ``_callbacks`` entry), serializes every frame written on it behind one lock (``frame_writer``, so the
refresher's thread can write while the worker's event loop or a publisher writes too), and sends the
method. The reply is read by whoever reads the connection next (the consumer's event loop, a
publisher's next synchronous call) and counted.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from amqp import spec
from amqp.serialization import dumps

UPDATE_SECRET = (10, 70)
UPDATE_SECRET_OK = (10, 71)
#: The first RabbitMQ release with update-secret.
FIRST_VERSION = (3, 8)


def prepare(connection: Any) -> None:
    """Make a just-opened py-amqp connection able to send update-secret and read its reply."""
    if getattr(connection, "_configsvc_secret_lock", None) is not None:
        return
    lock = threading.RLock()
    methods = dict(connection._METHODS)
    methods[UPDATE_SECRET_OK] = spec.method(UPDATE_SECRET_OK)
    connection._METHODS = methods
    connection._configsvc_secrets_accepted = 0
    connection._callbacks[UPDATE_SECRET_OK] = lambda: _accepted(connection)
    write = connection.frame_writer

    def frame_writer(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return write(*args, **kwargs)

    connection.frame_writer = frame_writer
    connection._configsvc_secret_lock = lock


def _accepted(connection: Any) -> None:
    connection._configsvc_secrets_accepted += 1


def secrets_accepted(connection: Any) -> int:
    """How many update-secret replies this connection has read."""
    return int(getattr(connection, "_configsvc_secrets_accepted", 0))


def supports_update_secret(connection: Any) -> bool:
    """True when the server said it is RabbitMQ 3.8 or later (the only brokers with update-secret)."""
    properties = getattr(connection, "server_properties", None) or {}
    product = properties.get("product")
    if isinstance(product, bytes):
        product = product.decode(errors="replace")
    if product != "RabbitMQ":
        return False
    version = properties.get("version")
    if isinstance(version, bytes):
        version = version.decode(errors="replace")
    found = re.match(r"(\d+)\.(\d+)", str(version or ""))
    return found is not None and (int(found[1]), int(found[2])) >= FIRST_VERSION


def send_update_secret(connection: Any, secret: str, reason: str = "configsvc: token refreshed") -> bool:
    """Send update-secret on an open, prepared connection; False when it is closed or not prepared."""
    lock = getattr(connection, "_configsvc_secret_lock", None)
    if lock is None or not getattr(connection, "connected", False) or connection.transport is None:
        return False
    with lock:
        connection.frame_writer(1, 0, UPDATE_SECRET, dumps("Ss", (secret, reason)), None)
    return True
