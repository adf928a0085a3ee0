"""``configsvc rollout``: the staged configuration to a canary, then in steps; rolled back when it fails.

Run where the files are, like ``fleet``: the files' fingerprint is the configuration to roll out. Every
worker is asked its verified status (:func:`configsvc.commands.fleet.ask_workers`); the ones that have
that fingerprint staged are the rollout's. Each step tells its processes (signed messages,
:mod:`configsvc.rollout.messages`) to apply it, waits until their verified status runs it, then bakes:
for ``--bake`` seconds it compares the tasks they failed since they applied it with the tasks the others
failed meanwhile, and watches their state (a refused configuration, expired credentials) and that they
answer at all. Healthy: the next step (a process that started meanwhile, on the settled configuration with
the files' staged, is in the next one; the last step is every such process). All healthy: every process is
told the rollout completed, so a process that starts from then on runs it (:mod:`configsvc.rollout.settled`).
Unhealthy: every process that applied it goes back to what it ran before, every process is told the
fingerprint is rejected, and the command exits 1 naming the signal.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from configsvc.commands.broker_app import command_app
from configsvc.commands.fleet import ask_workers, broker_problem, verifying_keys
from configsvc.commands.inspect import resolve_for
from configsvc.commands.reporting import reports_errors
from configsvc.errors import ConfigError, Problem
from configsvc.rollout.messages import ROLLOUT_COMMAND, Action, Message, message_keys, signed

if TYPE_CHECKING:
    from celery import Celery

#: Finished tasks a step's processes must have before their failure ratio is judged ahead of the bake's end.
EARLY_SAMPLE = 5
LOOK_SECONDS = 0.25  # how often a step is looked at while it applies and bakes
Process = tuple[str, int]


@dataclass
class Rollout:
    """One rollout's view of the fleet, asked again at every look."""

    app: Celery
    fingerprint: str
    status_keys: list[bytes]
    message_key: bytes
    expect: int | None
    #: The last verified status of each process.
    seen: dict[Process, dict[str, Any]] = field(default_factory=dict)

    def look(self) -> dict[Process, dict[str, Any]]:
        try:
            seconds = 0.5 if self.expect is None else 2.0
            answers = ask_workers(self.app, seconds, self.expect, self.status_keys)
        except Exception as error:  # every transport fails its own way; none may print a traceback
            raise ConfigError(Problem(broker_problem(error, str(self.app.conf.broker_url or "")),
                                      kind="config", key="celery.broker_url", source="rollout")) from None
        now = {(str(s["hostname"]), int(s["pid"])): s for s in answers if s["counted"]}
        self.seen.update(now)
        return now

    def tell(self, action: Action, processes: list[Process]) -> None:
        for hostname, pid in processes:
            message = signed(self.message_key, Message(action, self.fingerprint, hostname, pid,
                                                       secrets.token_hex(16), time.time()))
            self.app.control.broadcast(ROLLOUT_COMMAND, arguments={"message": message.fields()},
                                       destination=[hostname], reply=False)


def _counts(status: dict[str, Any] | None, kind: str) -> tuple[int, int]:
    """(finished, failed) of one kind that a status counts since the process started."""
    counts = (status or {}).get(kind) or {}
    if kind == "tasks":
        failed = int(counts.get("failed", 0))
        return int(counts.get("succeeded", 0)) + failed, failed
    return int(counts.get("served", 0)), int(counts.get("failed", 0))


def _share(text: str, total: int) -> int:
    """``"3"`` or ``"25%"`` of ``total`` processes: at least 1, at most ``total``."""
    text = text.strip()
    count = -(-total * float(text[:-1]) // 100) if text.endswith("%") else float(text)
    return max(1, min(total, int(count)))


def _name(processes: list[Process] | set[Process]) -> str:
    return ", ".join(f"{hostname} pid {pid}" for hostname, pid in sorted(processes))


@click.command()
@click.option("--canary", default="1", show_default=True, metavar="N|P%",
              help="How many processes apply it first (a number, or a share of them).")
@click.option("--steps", default="25%,50%,100%", show_default=True, metavar="P%,...",
              help="After the canary, how many run it at each step (shares of the processes, or numbers).")
@click.option("--bake", type=click.FloatRange(0), default=60.0, show_default=True, metavar="SECONDS",
              help="How long each step is watched before the next.")
@click.option("--max-failure-ratio", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              metavar="R", help="Unhealthy when a step's processes fail more than this share of their tasks "
                                "above the share the others fail meanwhile.")
@click.option("--apply-timeout", type=click.FloatRange(0.1), default=15.0, show_default=True,
              metavar="SECONDS", help="How long a process may take to run it once told (else it is hung).")
@click.option("--expect", type=click.IntRange(1), metavar="N",
              help="How many workers you run: every look waits for that many answers.")
@click.option("--status", "status_only", is_flag=True,
              help="Only show what each process runs and has staged, against the files' configuration.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of text.")
@click.pass_context
@reports_errors
def rollout(ctx: click.Context, canary: str, steps: str, bake: float, max_failure_ratio: float,
            apply_timeout: float, expect: int | None, status_only: bool, as_json: bool) -> None:
    """Apply the staged configuration to a canary, then in steps; roll it back when it fails."""
    config = resolve_for(ctx)
    keys = message_keys(config)
    plan = Rollout(command_app(config, "configsvc-rollout"), config.fingerprint, verifying_keys(config),
                   keys[0], expect)
    say = _printer(as_json)
    try:
        fleet = plan.look()
        if status_only:
            _show_status(fleet, plan.fingerprint, say)
            return
        if expect is not None and len(fleet) < expect:
            say("missing", f"{len(fleet)} of the {expect} expected processes answered: the others (down, "
                "hung, on another broker) keep what they run and are not part of this rollout; once they "
                "answer, configsvc rollout --status shows them and a second rollout gives them the "
                "configuration",
                processes=sorted(fleet))
        staged = sorted(p for p, s in fleet.items() if s.get("pending") == plan.fingerprint)
        running = sorted(p for p, s in fleet.items() if s.get("fingerprint") == plan.fingerprint)
        other = sorted(set(fleet) - set(staged) - set(running))
        if other:
            say("not staged", f"{len(other)} process(es) neither run nor have staged the files' "
                "configuration (immediate mode, a rejected or refused one, or files that differ): "
                + _name(other),
                processes=other)
        if not staged:
            if running and not other:
                plan.tell("complete", running)  # a host may still keep what ran before it
                say("done", f"all {len(running)} process(es) run the files' configuration; nothing to "
                    "roll out")
                return
            say("failed", "no process has the files' configuration staged", processes=other)
            sys.exit(1)
        total = len(staged) + len(running)
        targets = [_share(canary, total)] + [_share(step, total) for step in steps.split(",") if step.strip()]
        if targets[-1] < total:  # the last step is always every process
            targets.append(total)
        applied: list[Process] = []
        for number, target in enumerate(targets):
            # A process that started since has it staged too (it runs what was settled): the steps take it.
            joined = (p for p, s in (plan.look() if number else fleet).items()
                      if s.get("pending") == plan.fingerprint)
            staged = sorted({*staged, *joined})
            if number == len(targets) - 1:
                target = len(staged) + len(running)
            step = [p for p in staged if p not in applied][:max(0, target - len(running) - len(applied))]
            if not step:
                continue
            name = "canary" if number == 0 else f"step {number}"
            started = time.monotonic()
            plan.tell("apply", step)
            hung = _wait_until_running(plan, step, apply_timeout)
            applied += step
            if hung:
                _roll_back(plan, applied, staged, say, f"{name}: {len(hung)} process(es) did not run it "
                           f"within {apply_timeout:g} s (hung, down or refusing it): {_name(hung)}", hung)
            took = time.monotonic() - started
            say("applied", f"{name}: {len(step)} process(es) run it, {took:.2f} s after they were told: "
                + _name(step), processes=step)
            problem, culprits = _bake(plan, applied, bake, max_failure_ratio)
            if problem is not None:
                _roll_back(plan, applied, staged, say, f"{name}: {problem}", culprits)
            say("healthy", f"{name}: healthy after {bake:g} s of bake")
        now = plan.look()
        gone = sorted(set(fleet) - set(now))
        if gone:
            say("missing", f"{len(gone)} process(es) that answered at the start no longer do (they keep what "
                "they run; run configsvc rollout again once they answer): " + _name(gone), processes=gone)
        plan.tell("complete", sorted(now))
        say("done", f"all {len(staged) + len(running) - len(gone)} process(es) run fingerprint "
            f"{plan.fingerprint}")
    finally:
        plan.app.close()


def _wait_until_running(plan: Rollout, processes: list[Process], timeout: float) -> list[Process]:
    """Wait until each process's verified status runs the fingerprint; the ones that did not (hung)."""
    deadline = time.monotonic() + timeout
    while True:
        fleet = plan.look()
        behind = [p for p in processes if fleet.get(p, {}).get("fingerprint") != plan.fingerprint]
        if not behind or time.monotonic() >= deadline:
            return behind
        time.sleep(LOOK_SECONDS / 5)


def _bake(plan: Rollout, applied: list[Process], bake: float,
          max_failure_ratio: float) -> tuple[str | None, list[Process]]:
    """Watch the processes that applied it for ``bake`` seconds: the first signal that fails, and the
    processes it names (None when healthy)."""
    start = {(p, kind): _counts(s, kind) for p, s in plan.seen.items() for kind in ("tasks", "requests")}
    deadline = time.monotonic() + bake
    while True:
        fleet = plan.look()
        missing = [p for p in applied if p not in fleet]
        if missing:
            return f"{len(missing)} process(es) stopped answering: {_name(missing)}", missing
        stale = [p for p in applied
                 if fleet[p].get("state") != "ok" or fleet[p].get("fingerprint") != plan.fingerprint]
        if stale:
            return f"{len(stale)} process(es) refused or left it (state stale): {_name(stale)}", stale
        expired = [p for p in applied if fleet[p].get("credentials") in ("expired", "refresh failing")]
        if expired:
            return f"credentials {fleet[expired[0]].get('credentials')} on {_name(expired)}", expired
        ending = time.monotonic() >= deadline
        for kind, what in (("tasks", "tasks failed"), ("requests", "requests answered 5xx")):
            new = _finished(applied, fleet, start, kind)
            old = _finished([p for p in fleet if p not in applied], fleet, start, kind)
            ratio_new = new[1] / new[0] if new[0] else 0.0
            ratio_old = old[1] / old[0] if old[0] else 0.0
            if (new[0] >= EARLY_SAMPLE or ending) and ratio_new > ratio_old + max_failure_ratio:
                return (f"{what}: {new[1]} of {new[0]} ({ratio_new:.0%}) on the processes that run it, "
                        f"{old[1]} of {old[0]} ({ratio_old:.0%}) on the others (--max-failure-ratio "
                        f"{max_failure_ratio:g})"), applied
        if ending:
            return None, []
        time.sleep(LOOK_SECONDS)


def _finished(processes: list[Process], fleet: dict[Process, dict[str, Any]],
              start: dict[tuple[Process, str], tuple[int, int]], kind: str) -> tuple[int, int]:
    """Tasks (or requests) finished and failed by ``processes`` since the bake began."""
    done = failed = 0
    for process in processes:
        done_now, failed_now = _counts(fleet.get(process), kind)
        done_then, failed_then = start.get((process, kind), (done_now, failed_now))
        done += done_now - done_then
        failed += failed_now - failed_then
    return done, failed


def _roll_back(plan: Rollout, applied: list[Process], staged: list[Process], say: Any, reason: str,
               culprits: list[Process]) -> None:
    """Every process that applied it goes back; every process is told it is rejected; exit 1."""
    plan.tell("roll back", sorted(set(applied) | set(staged)))
    left = _wait_until_left(plan, applied, 15.0)
    detail = f"; {len(left)} did not go back yet: {_name(left)}" if left else ""
    say("rolled back", f"{reason}. Rolled back on {len(applied)} process(es), the configuration is marked "
        f"rejected{detail}", processes=culprits)
    sys.exit(1)


def _wait_until_left(plan: Rollout, processes: list[Process], timeout: float) -> list[Process]:
    deadline = time.monotonic() + timeout
    while True:
        fleet = plan.look()
        left = [p for p in processes if fleet.get(p, {}).get("fingerprint") == plan.fingerprint]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(LOOK_SECONDS / 5)


def _show_status(fleet: dict[Process, dict[str, Any]], fingerprint: str, say: Any) -> None:
    say("status", f"the files now: fingerprint {fingerprint}")
    for (hostname, pid), status in sorted(fleet.items()):
        runs = status.get("fingerprint")
        what = ("runs it" if runs == fingerprint else
                "has it staged" if status.get("pending") == fingerprint else
                "rejected it" if fingerprint in (status.get("rejected") or ()) else "neither")
        say("status", f"{hostname}  pid {pid}  runs {runs}  staged {status.get('pending') or '-'}  "
            f"{status.get('state')}  {what}", processes=[(hostname, pid)])


def _printer(as_json: bool) -> Any:
    def say(event: str, text: str, processes: list[Process] | None = None) -> None:
        if as_json:
            click.echo(json.dumps({"event": event, "message": text,
                                   "processes": [{"hostname": h, "pid": p} for h, p in processes or []]}))
        else:
            click.echo(f"rollout: {text}", err=event in ("rolled back", "failed", "not staged", "missing"))

    return say
