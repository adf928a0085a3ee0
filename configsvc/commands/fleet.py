"""``configsvc fleet``: does every worker run the configuration the files hold now?

The app's configuration is resolved from the files as they are (the fingerprint of what a worker would
load now), and every worker is asked over the broker the files name (the ``configsvc_status``
remote-control command) with a fresh nonce. Only replies that prove they come from a process holding the
deployment's secrets count (see :mod:`configsvc.celery.status`); the others are listed as unverified.
Exit 0 when every verified reply runs that fingerprint (and at least ``--expect`` verified replies came);
``--wait`` asks again until they do or the time is up. In a rotation runbook it is the step that says when
revoking the old credential is safe.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from configsvc.commands.broker_app import command_app
from configsvc.commands.inspect import resolve_for
from configsvc.commands.reporting import reports_errors
from configsvc.core.redaction import mask_url
from configsvc.errors import ConfigError, Problem

if TYPE_CHECKING:
    from celery import Celery

    from configsvc.core.config import Config

POLL_SECONDS = 0.2  # how long one round waits for answers (without --expect)
WATCH_ROUND_SECONDS = 0.05  # --watch --expect: a round that misses an answer is asked again this soon
WATCH_LOOK_SECONDS = 0.02  # --watch: how often the files are looked at until they change


class _Enough(Exception):
    """Raised from the reply callback once ``expect`` verified replies came: kombu's collector stops
    after a number of messages, and unverified ones must not count towards it."""


def ask_workers(app: Celery, timeout: float, expect: int | None, keys: list[bytes]) -> list[dict[str, Any]]:
    """Every worker's ``configsvc_status`` answer to a fresh nonce, over ``app``'s broker, each marked
    ``verified`` (its proof holds for one of ``keys``) and ``counted`` (the first verified reply of its
    process: a request re-published by someone else can make a worker answer twice); done as soon as
    ``expect`` processes gave a verified reply, when the number of workers is known. A reply keeps only
    the fields its proof covers."""
    from configsvc.celery.proof import STATUS_COMMAND, shown, verified

    nonce = secrets.token_hex(16)
    answers: list[dict[str, Any]] = []
    counted: set[tuple[str, Any]] = set()

    def collect(reply: Any) -> None:
        for hostname, status in (reply.items() if isinstance(reply, dict) else ()):
            if isinstance(status, dict):
                status = shown({**status, "hostname": status.get("hostname", hostname)})
                is_verified = verified(keys, nonce, status)
                process = (str(status["hostname"]), status.get("pid"))
                first = is_verified and process not in counted
                if first:
                    counted.add(process)
                answers.append({**status, "verified": is_verified, "counted": first})
        if expect is not None and len(counted) >= expect:
            raise _Enough

    with contextlib.suppress(_Enough):
        app.control.broadcast(STATUS_COMMAND, arguments={"nonce": nonce}, reply=True, timeout=timeout,
                              callback=collect)
    return sorted(answers, key=lambda status: str(status["hostname"]))


@click.command()
@click.option("--wait", "wait_seconds", type=float, default=0.0, metavar="SECONDS",
              help="Ask again until every worker runs the files' configuration, or the time is up.")
@click.option("--watch", is_flag=True,
              help="Stay connected through the next change of the files: return once they have changed and "
                   "every worker runs what they hold then (at most --wait SECONDS when given). Start it "
                   "before the change: it answers a round trip after the last worker switched.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--expect", type=click.IntRange(1), metavar="N",
              help="How many workers you run: fleet waits for exactly that many answers (and returns as soon "
                   "as they came); without it, at least one must answer. A worker left on another broker "
                   "cannot answer, so give it when moving between brokers or vhosts.")
@click.pass_context
@reports_errors
def fleet(ctx: click.Context, wait_seconds: float, watch: bool, as_json: bool, expect: int | None) -> None:
    """Ask every worker which configuration it runs; exit 0 when all run the one the files hold now."""
    config = resolve_for(ctx)
    first = wanted = config.fingerprint
    keys = verifying_keys(config)
    seen = _signature(config)
    deadline = time.monotonic() + wait_seconds if wait_seconds or not watch else float("inf")
    app = command_app(config, "configsvc-fleet")
    if watch:
        click.echo(f"fleet: watching: the files hold {first}; waiting for them to change", err=True)
    try:
        if watch:  # nothing to ask the workers until the files change: look at them, cheaply
            config, app = _until_changed(ctx, config, app, deadline)
            wanted, keys = config.fingerprint, verifying_keys(config)
        while True:
            try:
                answers = ask_workers(app, _round_seconds(wait_seconds, watch, expect), expect, keys)
            except Exception as error:  # every transport fails its own way; none may print a traceback
                raise ConfigError(Problem(broker_problem(error, str(app.conf.broker_url or "")),
                                          kind="config", key="celery.broker_url", source="fleet")) from None
            trusted = [status for status in answers if status["counted"]]
            current = [status for status in trusted if status.get("fingerprint") == wanted]
            done = len(trusted) >= (expect or 1) and len(current) == len(trusted) and \
                (not watch or wanted != first)
            if done or time.monotonic() >= deadline:
                break
            if watch and _signature(config) != seen:  # changed again meanwhile: what they hold now
                config, app = _files_now(ctx, config, app)
                wanted, keys = config.fingerprint, verifying_keys(config)
            seen = _signature(config)
    finally:
        app.close()
    _print(answers, wanted, as_json)
    repeated = [status for status in answers if status["verified"] and not status["counted"]]
    if repeated:
        click.echo(f"fleet: {len(repeated)} more repl{'y' if len(repeated) == 1 else 'ies'} from a process "
                   "that had answered already did not count (the request was sent again by someone "
                   "else?): " + ", ".join(f"{s['hostname']} pid {s.get('pid')}" for s in repeated), err=True)
    unverified = len(answers) - len(trusted) - len(repeated)
    if unverified:
        click.echo(f"fleet: {unverified} repl{'y' if unverified == 1 else 'ies'} could not be verified (no "
                   "valid proof: not made with the deployment's secret_key) and did not count: "
                   + ", ".join(f"{s['hostname']} pid {s.get('pid')}" for s in answers if not s["verified"]),
                   err=True)
    if not done:
        lagging = len(trusted) - len(current)
        if lagging:
            reason = f"{lagging} of {len(trusted)} verified worker(s) run another configuration"
        elif expect is not None:
            reason = f"{len(trusted)} verified worker(s) answered, {expect} expected (--expect {expect})"
        else:
            reason = ("no verified worker answered; without --expect at least one must (give --expect N, "
                      "the number of workers you run, so that fleet waits for all of them)")
        click.echo(f"fleet: not yet: {reason}", err=True)
        sys.exit(1)
    click.echo(f"fleet: all {len(trusted)} verified worker(s) run the configuration the files hold now",
               err=True)


def verifying_keys(config: Config) -> list[bytes]:
    from configsvc.celery.proof import proof_keys

    keys = proof_keys(config)
    if not keys:
        raise ConfigError(Problem(
            "no secret_key is configured, so no worker's reply can be verified (each proves itself with "
            "a key derived from it); set secret_key", kind="validation", key="secret_key"))
    return keys


def _round_seconds(wait_seconds: float, watch: bool, expect: int | None) -> float:
    """How long one round waits for answers. A round with ``--expect`` ends as soon as that many came, so
    its limit is only paid for an answer missing: a worker whose remote-control connection is being
    reopened by a switch does not get that round's request. --watch, which is there to say the moment the
    last worker switched, asks again soon."""
    if watch and expect is not None:
        return WATCH_ROUND_SECONDS
    return POLL_SECONDS if wait_seconds or watch else 1.0


def _signature(config: Config) -> tuple[tuple[int, int, int] | None, ...]:
    """The files a configuration was read from as they are on disk now (a changed one differs)."""
    found: list[tuple[int, int, int] | None] = []
    for path in config.watched_files:
        try:
            stat = os.stat(path)
        except OSError:
            found.append(None)
            continue
        found.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _until_changed(ctx: click.Context, config: Config, app: Celery, deadline: float) -> tuple[Config, Celery]:
    """Look at the files every few milliseconds until they resolve to another configuration (or time is
    up): that configuration, and the app to ask with."""
    first, seen = config.fingerprint, _signature(config)
    while time.monotonic() < deadline:
        time.sleep(WATCH_LOOK_SECONDS)
        now = _signature(config)
        if now == seen:
            continue
        seen = now
        config, app = _files_now(ctx, config, app)
        if config.fingerprint != first:
            break
    return config, app


def _files_now(ctx: click.Context, config: Config, app: Celery) -> tuple[Config, Celery]:
    """The configuration the files hold now (the one before while they do not resolve: a file being
    written), and the app to ask with: a new one when the broker settings changed."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its warnings were printed once already
            now = resolve_for(ctx)
    except ConfigError:
        return config, app
    if now.fingerprint == config.fingerprint:
        return config, app
    if now.celery_settings().get("broker_url") != config.celery_settings().get("broker_url") \
            or now.credentials != config.credentials:
        app.close()
        app = command_app(now, "configsvc-fleet")
    return now, app


def broker_problem(error: BaseException, broker_url: str) -> str:
    """One line for a broker fleet could not ask: the broker (masked) and what went wrong, no value."""
    from configsvc.celery.auth import is_auth_failure

    where = mask_url(broker_url) or "the broker"
    if is_auth_failure(error):
        return f"the broker at {where} refused the credentials; no worker was asked"
    reason = next((getattr(e, "strerror", None) for e in _chain(error) if getattr(e, "strerror", None)),
                  None) or type(error).__name__
    return f"the broker at {where} cannot be reached ({str(reason).lower()}); no worker was asked"


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _print(answers: list[dict[str, Any]], wanted: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"fingerprint": wanted, "workers": [
            {**{k: v for k, v in status.items() if k != "proof"},
             "current": status["counted"] and status.get("fingerprint") == wanted}
            for status in answers]}, indent=2))
        return
    click.echo(f"# the files now: fingerprint {wanted}")
    for status in answers:
        mark = (("current" if status.get("fingerprint") == wanted else "OTHER") if status["counted"]
                else "REPEATED" if status["verified"] else "UNVERIFIED")
        credentials = ""
        if status.get("credentials"):
            credentials = f"  credentials {status['credentials']}"
            if status.get("credentials_expire_at"):
                what = ", lease" if status.get("credentials_lease") else ""
                credentials += f"{what} until {status['credentials_expire_at']}"
            if status.get("credentials_losing_user"):
                credentials += "  LOSING ITS USER (within a renewal interval)"
        pending = f"  pending {status['pending']}" if status.get("pending") else ""
        rejected = f"  rejected {', '.join(status['rejected'])}" if status.get("rejected") else ""
        click.echo(f"{status['hostname']}  pid {status.get('pid')}  generation {status.get('generation')}  "
                   f"{status.get('state')}  {mark}  {status.get('fingerprint')}  {status.get('broker')}"
                   f"{credentials}{pending}{rejected}")
    losing = [status for status in answers if status.get("credentials_losing_user")]
    if losing:
        click.echo(f"# {len(losing)} process(es) within a renewal interval of losing their user: "
                   + ", ".join(f"{status['hostname']} pid {status.get('pid')}" for status in losing))
