"""The pre-flight verdict shared by the processes of a host (hardening round 3: a clock step back made a
refused verdict count as fresh for as long as the step, and verdict files were never removed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from configsvc.celery.verdicts import SWEEP_SECONDS, VERDICT_SECONDS, shared_verdict


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    private = tmp_path / "verdicts"
    private.mkdir(mode=0o700)
    return private


def counting(verdict: dict[str, object]) -> tuple[list[int], object]:
    calls: list[int] = []

    def check() -> dict[str, object]:
        calls.append(1)
        return verdict

    return calls, check


def test_a_fresh_verdict_is_shared(folder: Path) -> None:
    refused = {"ok": False, "message": "refused"}
    calls, check = counting(refused)
    assert shared_verdict("broker", ["amqp://u:***@h//"], check, folder) == refused
    assert shared_verdict("broker", ["amqp://u:***@h//"], check, folder) == refused
    assert len(calls) == 1  # the second process reads the first one's verdict


@pytest.mark.parametrize("age", [-3600.0, -1.0, VERDICT_SECONDS + 1])
def test_a_verdict_dated_in_the_future_or_too_old_is_checked_again(folder: Path, age: float) -> None:
    """After the clock stepped back an hour, the verdict written before is dated an hour ahead."""
    calls, check = counting({"ok": False, "message": "refused"})
    shared_verdict("broker", ["x"], check, folder)
    (verdict,) = [path for path in folder.iterdir() if len(path.name) == 64]
    os.utime(verdict, (time.time() - age, time.time() - age))
    shared_verdict("broker", ["x"], check, folder)
    assert len(calls) == 2


def test_old_verdicts_are_removed(folder: Path) -> None:
    for number in range(11):  # one test run of the rotation tests left eleven
        shared_verdict("broker", [f"settings-{number}"], lambda: {"ok": True}, folder)
    old = time.time() - SWEEP_SECONDS - 1
    for path in folder.iterdir():
        if path.name != "salt":
            os.utime(path, (old, old))
    future = folder / ("f" * 64)
    future.write_text("{}")
    os.utime(future, (time.time() + 3600, time.time() + 3600))
    shared_verdict("broker", ["the current settings"], lambda: {"ok": True}, folder)
    names = sorted(path.name for path in folder.iterdir())
    assert len(names) == 3 and "salt" in names  # the current verdict, its lock and the salt
