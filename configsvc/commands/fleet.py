"""``configsvc fleet``: does every worker run the configuration the files hold now?

The app's configuration is resolved from the files as they are (the fingerprint of what a worker would
load now), and every worker is asked over the broker the files name (the ``configsvc_status``
remote-control command). Exit 0 when every worker that answers runs that fingerprint (and at least
``--expect`` answer); ``--wait`` asks again until they do or the time is up. In a rotation runbook it is the
step that says when revoking the old credential is safe.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from configsvc.commands.inspect import resolve_for
from configsvc.commands.reporting import reports_errors
from configsvc.core.config import Config

POLL_SECONDS = 0.2  # how long one round waits for answers (without --expect)


def fleet_app(config: Config) -> Any:
    """A plain Celery app on the broker ``config`` names, to ask the workers (closed by the caller)."""
    from celery import Celery  # imported here: the other commands do not need Celery

    app = Celery("configsvc-fleet", set_as_current=False)
    app.conf.update(config.celery_settings())
    return app


def ask_workers(app: Any, timeout: float, expect: int | None) -> list[dict[str, Any]]:
    """Every worker's ``configsvc_status`` answer, over ``app``'s broker (done as soon as ``expect``
    answered, when the number of workers is known)."""
    from configsvc.celery.status import STATUS_COMMAND

    replies = app.control.broadcast(STATUS_COMMAND, reply=True, timeout=timeout, limit=expect)
    answers = []
    for reply in replies or []:
        for hostname, status in reply.items():
            if isinstance(status, dict):
                answers.append({**status, "hostname": status.get("hostname", hostname)})
    return sorted(answers, key=lambda status: str(status["hostname"]))


@click.command()
@click.option("--wait", "wait_seconds", type=float, default=0.0, metavar="SECONDS",
              help="Ask again until every worker runs the files' configuration, or the time is up.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--expect", type=click.IntRange(1), metavar="N",
              help="How many workers you run: fleet waits for exactly that many answers (and returns as soon "
                   "as they came); without it, at least one must answer. A worker left on another broker "
                   "cannot answer, so give it when moving between brokers or vhosts.")
@click.pass_context
@reports_errors
def fleet(ctx: click.Context, wait_seconds: float, as_json: bool, expect: int | None) -> None:
    """Ask every worker which configuration it runs; exit 0 when all run the one the files hold now."""
    config = resolve_for(ctx)
    wanted = config.fingerprint
    deadline = time.monotonic() + wait_seconds
    app = fleet_app(config)
    try:
        while True:
            answers = ask_workers(app, POLL_SECONDS if wait_seconds else 1.0, expect)
            current = [status for status in answers if status.get("fingerprint") == wanted]
            done = len(answers) >= (expect or 1) and len(current) == len(answers)
            if done or time.monotonic() >= deadline:
                break
    finally:
        app.close()
    _print(answers, wanted, as_json)
    if not done:
        lagging = len(answers) - len(current)
        reason = (f"{lagging} of {len(answers)} worker(s) run another configuration" if lagging
                  else f"{len(answers)} worker(s) answered, {expect or 1} expected")
        click.echo(f"fleet: not yet: {reason}", err=True)
        sys.exit(1)
    click.echo(f"fleet: all {len(answers)} worker(s) run the configuration the files hold now", err=True)


def _print(answers: list[dict[str, Any]], wanted: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"fingerprint": wanted, "workers": [
            {**status, "current": status.get("fingerprint") == wanted} for status in answers]}, indent=2))
        return
    click.echo(f"# the files now: fingerprint {wanted}")
    for status in answers:
        mark = "current" if status.get("fingerprint") == wanted else "OTHER"
        click.echo(f"{status['hostname']}  pid {status.get('pid')}  generation {status.get('generation')}  "
                   f"{status.get('state')}  {mark}  {status.get('fingerprint')}  {status.get('broker')}")
