"""The HTTP routes through Flask's test client, on the embedded broker of each test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app


def test_post_task_returns_202_with_location(client: FlaskClient) -> None:
    response = client.post("/task/", json={"seconds": 1})
    assert response.status_code == 202
    body = response.json
    assert body["state"] == "PENDING"
    assert response.headers["Location"] == f"/task/{body['task_id']}"
    status = client.get(response.headers["Location"])
    assert status.status_code == 200
    assert status.json == {"task_id": body["task_id"], "state": "PENDING", "result": None}


def test_post_task_without_a_body_uses_the_default(client: FlaskClient) -> None:
    assert client.post("/task/").status_code == 202


@pytest.mark.parametrize(("data", "content_type", "message"), [
    ("{not json", "application/json", "the body is not valid JSON"),
    ("[1, 2]", "application/json", "the body must be a JSON object"),
    ('{"seconds": "ten"}', "application/json", "seconds must be a number from 0 to 60"),
    ('{"seconds": -1}', "application/json", "seconds must be a number from 0 to 60"),
    ('{"seconds": 61}', "application/json", "seconds must be a number from 0 to 60"),
    ('{"seconds": true}', "application/json", "seconds must be a number from 0 to 60"),
    ('{"seconds": null}', "application/json", "seconds must be a number from 0 to 60"),
    ("seconds=5", "application/x-www-form-urlencoded", "the body is not valid JSON"),
    # from the hardening run: 500s with a RecursionError traceback in the log before
    ('{"seconds": ' + "[" * 3000 + "]" * 3000 + "}", "application/json", "the body is nested too deeply"),
    # unterminated as well as deep: Python 3.11 and 3.12's decoder hits the recursion limit first, 3.13's
    # (whose C recursion limit is higher) reaches the end and reports the body as invalid
    ("[" * 2000, "application/json",
     "the body is nested too deeply" if sys.version_info < (3, 13) else "the body is not valid JSON"),
    ('{"seconds": 1, "x": ' + "[" * 8 + "]" * 8 + "}", "application/json", "the body is nested too deeply"),
])
def test_bad_task_requests_get_400_json(client: FlaskClient, data: str, content_type: str,
                                        message: str) -> None:
    response = client.post("/task/", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.json == {"error": response.json["error"]}
    assert message in response.json["error"]


@pytest.mark.parametrize("body", [
    '{"seconds": 0, "x": ' + "[" * 7 + "]" * 7 + "}",               # eight levels: the most a body may nest
    '{"seconds": 0, "note": "' + "[{" * 50 + '", "more": "\\"[[[[[[[["}',   # brackets in strings do not count
])
def test_nesting_up_to_the_limit_is_accepted(client: FlaskClient, body: str) -> None:
    assert client.post("/task/", data=body, content_type="application/json").status_code == 202


@pytest.mark.parametrize("body", [
    "[" + ",".join(["0"] * 100_000) + "]",                                   # a list of 1e5
    "{" + ",".join(f'"k{i}": 0' for i in range(50_000)) + "}",               # an object of 5e4
    '{"seconds": 1, "padding": "' + "x" * 10_000_000 + '"}',                  # 10 MB
])
def test_a_body_over_max_content_length_gets_413_json(client: FlaskClient, body: str) -> None:
    response = client.post("/task/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json == {"error": "the body is larger than 16384 bytes"}


@pytest.mark.parametrize("task_id", ["bad id", "x" * 65, "-leading-dash", "a/b"])
def test_bad_task_ids(client: FlaskClient, task_id: str) -> None:
    assert client.get(f"/task/{task_id}").status_code in (400, 404)


def test_html_flow(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert b'<form method="post"' in page.data
    sent = client.post("/", data={"message": "hello <b>world</b>"})
    assert sent.status_code == 303
    location = sent.headers["Location"]
    assert location.startswith("/result/")
    result = client.get(location)
    assert result.status_code == 200
    assert b"fetch(" in result.data and location.split("/")[-1].encode() in result.data
    assert client.post("/", data={"message": "  "}).status_code == 400
    assert client.get("/result/not%20an%20id").status_code == 404


@pytest.fixture
def admin_app(tmp_path: Path) -> Flask:
    return create_app({"admin_token": "admin-sentinel-token", "secret_key": "app-sentinel-key",
                       "celery": {"broker_url": "memory://", "result_backend": f"file://{tmp_path}/r"}},
                      environ={"APP_ENV": "testing", "APP_CELERY__BROKER_PASSWORD_PROBE": "x"})


@pytest.mark.filterwarnings("ignore::configsvc.ConfigWarning")
def test_config_needs_the_admin_token(admin_app: Flask) -> None:
    client = admin_app.test_client()
    assert client.get("/config").status_code == 401
    assert client.get("/config", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/config", headers={"Authorization": "Basic admin-sentinel-token"}).status_code == 401
    response = client.get("/config", headers={"Authorization": "bearer admin-sentinel-token"})
    assert response.status_code == 200
    settings = response.json["settings"]
    assert settings["secret_key"] == {"value": "***", "source": "overrides", "origin": "overrides"}
    assert settings["admin_token"]["value"] == "***"
    assert settings["celery.task_acks_late"]["source"] == "configsvc defaults"
    assert b"sentinel" not in response.data


def test_config_is_404_without_an_admin_token(client: FlaskClient) -> None:
    assert client.get("/config", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_broker_down_gets_503(tmp_path: Path) -> None:
    flask_app = create_app({"celery": {"broker_url": "amqp://u:down-sentinel@127.0.0.1:9//",
                                       "result_backend": "redis://:down-sentinel@127.0.0.1:9/0"}},
                           environ={"APP_ENV": "testing"})
    client = flask_app.test_client()
    response = client.post("/task/", json={"seconds": 0})
    assert response.status_code == 503
    assert response.json == {"error": "the task broker is unavailable; try again shortly"}
    status = client.get("/task/abc-123")
    assert status.status_code == 503
    assert "result backend is unavailable" in status.json["error"]
    assert client.post("/", data={"message": "hi"}).status_code == 503
    assert client.get("/healthz").status_code == 503
    for body in (response.data, status.data):
        assert b"down-sentinel" not in body


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_a_silent_broker_gets_503_not_a_hung_request(tmp_path: Path, scheme: str) -> None:
    """A server that accepts connections and never answers: the bounded timeouts still end the request."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        flask_app = create_app({"celery": {"broker_url": f"{scheme}://u:x@127.0.0.1:{port}/",
                                           "result_backend": f"redis://:x@127.0.0.1:{port}/1"}},
                               environ={"APP_ENV": "testing"})
        client = flask_app.test_client()
        assert client.post("/task/", json={"seconds": 0}).status_code == 503
        assert client.get("/task/abc").status_code == 503
        assert client.get("/healthz").status_code == 503
