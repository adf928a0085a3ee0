"""The proof a ``configsvc_status`` reply carries: made with the deployment's secret key, bound to the
request's nonce and to every field of the reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from configsvc.celery.proof import proof_keys, sign, verified
from tests.support.reference import resolve

REPLY = {"hostname": "w1@h", "pid": 42, "fingerprint": "ab" * 16, "generation": 3, "state": "ok",
         "broker": "amqp://u:***@h//", "credentials": "refresh failing",
         "credentials_expire_at": "2026-12-07T10:00:00Z", "credentials_lease": True,
         "credentials_losing_user": True, "pending": "ef" * 16, "tasks": {"succeeded": 7, "failed": 1}}


def keys_of(tmp_path: Path, **overrides: object) -> list[bytes]:
    return proof_keys(resolve({"APP_ENV": "testing"}, overrides, instance_path=tmp_path))


def test_a_reply_signed_with_the_secret_key_verifies(tmp_path: Path) -> None:
    keys = keys_of(tmp_path, secret_key="the-key")
    assert verified(keys, "n1", {**REPLY, "proof": sign(keys[0], "n1", REPLY)})


@pytest.mark.parametrize("change", [
    {"fingerprint": "cd" * 16}, {"hostname": "w2@h"}, {"pid": 43}, {"generation": 4}, {"state": "stale"},
    {"broker": "amqp://v:***@h//"},
    # Hardening round 4: the credential fields fleet shows were outside the proof.
    {"credentials": "ok"}, {"credentials_expire_at": "2030-01-01T00:00:00Z"}, {"credentials_lease": False},
    {"credentials_losing_user": False},
    # Staged rollout: what a process has staged, and the task counts configsvc rollout compares.
    {"pending": None}, {"tasks": {"succeeded": 7, "failed": 0}},
])
def test_a_changed_field_does_not_verify(tmp_path: Path, change: dict[str, object]) -> None:
    keys = keys_of(tmp_path, secret_key="the-key")
    assert not verified(keys, "n1", {**REPLY, **change, "proof": sign(keys[0], "n1", REPLY)})


def test_another_nonce_another_key_or_no_proof_does_not_verify(tmp_path: Path) -> None:
    keys = keys_of(tmp_path, secret_key="the-key")
    other = keys_of(tmp_path, secret_key="another-key")
    assert not verified(keys, "n2", {**REPLY, "proof": sign(keys[0], "n1", REPLY)})  # a replayed reply
    assert not verified(keys, "n1", {**REPLY, "proof": sign(other[0], "n1", REPLY)})
    assert not verified(keys, "n1", {**REPLY, "proof": None})
    assert not verified(keys, "n1", {**REPLY, "proof": "é" * 64})
    assert not verified(keys, "n1", REPLY)


def test_a_worker_still_on_the_old_secret_key_verifies_while_it_is_a_fallback(tmp_path: Path) -> None:
    old = keys_of(tmp_path, secret_key="old-key")
    rotated = keys_of(tmp_path, secret_key="new-key", secret_key_fallbacks=["old-key"])
    assert verified(rotated, "n1", {**REPLY, "proof": sign(old[0], "n1", REPLY)})
    dropped = keys_of(tmp_path, secret_key="new-key")
    assert not verified(dropped, "n1", {**REPLY, "proof": sign(old[0], "n1", REPLY)})


def test_the_proof_key_is_not_the_secret_key(tmp_path: Path) -> None:
    (key,) = keys_of(tmp_path, secret_key="the-key")
    assert b"the-key" not in key and len(key) == 32
