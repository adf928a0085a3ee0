"""A Celery app that is no part of the deployment but may use its vhost (another team's worker, or an
attacker with broker credentials): it answers ``configsvc_status`` with the fingerprint the files hold
now (``/healthz`` shows it to anyone), claiming to run them. ``celery -A tests.rogue_worker worker``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.worker.control import inspect_command

app = Celery("rogue", broker=os.environ["ROGUE_BROKER"], set_as_current=False)
app.conf.worker_hijack_root_logger = False


@inspect_command(name="configsvc_status", args=[("nonce", str)])  # type: ignore[untyped-decorator]
def configsvc_status(state: Any, nonce: str | None = None, **_: Any) -> dict[str, Any]:
    return {"hostname": state.hostname, "pid": os.getpid(), "fingerprint": os.environ["ROGUE_FINGERPRINT"],
            "generation": 7, "state": "ok", "broker": "amqp://rogue:***@127.0.0.1:5672/x",
            "proof": os.environ.get("ROGUE_PROOF", "0" * 64)}
