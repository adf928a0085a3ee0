"""HTTP routes: the JSON task API, the small HTML pages, health and configuration.

Every call that reaches the broker or the result backend is bounded (see settings/settings.yaml), so a
broker that is down gets 503 within 2 s, never a hung request.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from celery.result import AsyncResult
from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import celery, config
from app.tasks import echo, sleep_then_now
from configsvc import masked
from configsvc.celery import is_auth_failure
from configsvc.flask import health

bp = Blueprint("views", __name__)

MAX_SECONDS = 60
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Retries through a broker outage of about 1.5 s (a failover, a user re-created): waits of 0.2 s, then
# 0.5 s; 1.7 s in all, so a request with the broker down still gets 503 within about 2 s. Connection
# timeouts come from the Celery settings.
PUBLISH_RETRY = {"max_retries": 4, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}


MAX_BODY_NESTING = 8


def _decode_body(data: bytes) -> Any:
    """The JSON body, or raise ValueError naming what is wrong. Linear in the body's size whatever it
    holds: the C decoder finds the depth (its recursion is bounded by Python's limit, a RecursionError),
    and the decoded value is measured without recursing."""
    try:
        body = json.loads(data)
    except RecursionError:
        raise ValueError("the body is nested too deeply") from None
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    level: list[tuple[Any, int]] = [(body, 1)]
    while level:
        value, depth = level.pop()
        if isinstance(value, dict | list):
            if depth > MAX_BODY_NESTING:
                raise ValueError("the body is nested too deeply")
            level.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return body


class BrokerUnavailable(Exception):
    """The broker or result backend did not answer in time."""


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify(error=message), status


@bp.errorhandler(BrokerUnavailable)
def broker_unavailable(error: BrokerUnavailable) -> ResponseReturnValue:
    return _error(503, str(error) or "the task broker is unavailable; try again shortly")


def _reload_after_refusal(error: Exception) -> bool:
    """Credentials refused: re-read the configuration now (it may have just changed); True to retry once."""
    if not is_auth_failure(error):
        return False
    config.state(current_app).reload()
    return True


def _publish(task: Any, *args: Any) -> AsyncResult:
    # FlaskCelery itself re-reads the configuration and retries once when the broker refuses credentials.
    try:
        return task.apply_async(args=args, retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as error:  # kombu raises a different error per transport; none may hang or leak
        current_app.logger.warning("publishing %s failed: %s", task.name, type(error).__name__)
    raise BrokerUnavailable("the task broker is unavailable; try again shortly")


def _read_state(task_id: str) -> tuple[str, Any]:
    for attempt in (1, 2):
        result = celery.AsyncResult(task_id)
        try:
            state = result.state
            return state, result.result if state in ("SUCCESS", "FAILURE") else None
        except Exception as error:
            if attempt == 1 and _reload_after_refusal(error):
                continue
            current_app.logger.warning("reading task state failed: %s", type(error).__name__)
    raise BrokerUnavailable("the result backend is unavailable; try again shortly")


def _state(task_id: str) -> dict[str, Any]:
    state, value = _read_state(task_id)
    body: dict[str, Any] = {"task_id": task_id, "state": state, "result": None}
    if state == "SUCCESS":
        body["result"] = value
    elif state == "FAILURE":
        body["error"] = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else str(value)
    return body


# A body over the limit is read and dropped up to this size before the 413 is sent: a client that sends
# its whole request before reading (most do, without Expect: 100-continue) would otherwise get a broken
# pipe instead of the answer. Past it the connection is closed unread.
DRAIN_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    _drain(request.environ, min(request.content_length or 0, DRAIN_BYTES))
    message = f"the body is larger than {limit} bytes" if limit else "the body is too large"
    return jsonify(error=message), 413, {"Connection": "close"}


def _drain(environ: dict[str, Any], length: int) -> None:
    """Read and drop ``length`` bytes of the request body (Flask refused it before reading any)."""
    stream = environ.get("wsgi.input")
    while stream is not None and length > 0:
        chunk = stream.read(min(_CHUNK, length))
        if not chunk:
            return
        length -= len(chunk)


@bp.post("/task/")
def submit_task() -> ResponseReturnValue:
    """Start ``sleep_then_now``: JSON body optional, ``{"seconds": N}`` with N from 0 to 60 (default 5).

    The body is bounded by ``max_content_length`` (413 beyond it); JSON nested deeper than a request
    needs is refused (400).
    """
    seconds: Any = 5
    if data := request.get_data():  # raises RequestEntityTooLarge past max_content_length: 413
        try:
            body = _decode_body(data)
        except ValueError as problem:
            return _error(400, str(problem))
        if not isinstance(body, dict):
            return _error(400, 'the body must be a JSON object like {"seconds": 5}')
        seconds = body.get("seconds", 5)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SECONDS:
        return _error(400, f"seconds must be a number from 0 to {MAX_SECONDS}")
    result = _publish(sleep_then_now, seconds)
    location = url_for(".task_status", task_id=result.id)
    return jsonify(task_id=result.id, state="PENDING"), 202, {"Location": location}


@bp.get("/task/<task_id>")
def task_status(task_id: str) -> ResponseReturnValue:
    """A task's state, and its result (or error, without traceback) once finished."""
    if not TASK_ID.fullmatch(task_id):
        return _error(400, "not a task id")
    return jsonify(_state(task_id))


@bp.route("/", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    """A form that sends a message through the ``echo`` task, then shows its result page. The session
    (signed with ``secret_key``) remembers the last task, so the page can link back to it."""
    last_task = session.get("last_task")
    if request.method == "POST":
        message = request.form.get("message", "")
        if not message.strip() or len(message) > 1000:
            return render_template("index.html", error="Type a message of up to 1000 characters.",
                                   last_task=last_task), 400
        result = _publish(echo, message)
        session["last_task"] = result.id
        return redirect(url_for(".result_page", task_id=result.id), code=303)
    return render_template("index.html", error=None, last_task=last_task)


@bp.get("/result/<task_id>")
def result_page(task_id: str) -> ResponseReturnValue:
    """The task's state, updated in place by polling ``GET /task/<id>``."""
    if not TASK_ID.fullmatch(task_id):
        abort(404)
    return render_template("result.html", task_id=task_id)


# 200 when the broker accepts a connection, 503 (within 2 s) when it does not; "config": "stale" while a
# changed deployment file is refused. configsvc's health view, mounted as any app can.
bp.add_url_rule("/healthz", "healthz", health)


@bp.get("/config")
def show_config() -> ResponseReturnValue:
    """The resolved configuration, redacted, with sources; needs ``Authorization: Bearer <admin_token>``."""
    resolved = config.state(current_app).config
    token = config.settings.admin_token
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        return _error(401, "a valid admin token is required (Authorization: Bearer <admin_token>)")
    settings = {e.key: {"value": masked(e.value), "source": e.source, "origin": e.origin}
                for e in resolved.entries()}
    return jsonify(env=resolved.env, settings=settings)
