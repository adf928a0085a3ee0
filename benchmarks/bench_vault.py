"""Vault dynamic users under load: what each process asks of Vault, and how the switches to new users go.

One stack — gunicorn (``--preload``, 2 workers), a Celery worker (prefork, concurrency 2, Celery's default
startup) and beat — on a RabbitMQ node of the benchmark's own (management plugin), with OpenBao's own
``bao server -dev`` handing out users from its ``rabbitmq`` engine on leases of ``--lease`` seconds (max
TTL ``--max-ttl``), each process logged in with AppRole; loaded with ``POST /task/`` at ``--rate`` for
``--seconds``. OpenBao's audit log records every request.

It reports:

1. Vault requests per process over the span, by kind (lease renewals, new users, revocations, logins,
   token renewals), per hour at this lease, and what the same cycle costs at ``ttl=1h max_ttl=24h``;
2. per switch to a new user, the seconds from the new user's arrival to the process on it: the worker's
   consumer reconnected as it (its ``switched to the new broker credentials`` line) and beat publishing
   with it; median, p99 (target p99 < 1 s);
3. tasks completed per second in the 1-second windows holding a switch against the others (target: a dip
   under 2%).

Needs this machine's Redis (results); starts its own RabbitMQ node and OpenBao, stops them. Prints the
figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_vault [--seconds S] [--lease S] [--max-ttl S] [--rate N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.bench_rotation import percentile
from benchmarks.bench_tokens import SUCCEEDED, stack, stamped
from tests.support.load import Load
from tests.support.vault import vault_deployment, vault_for_rabbitmq

NEW_USER = "a new user; switching connections live"
ON_NEW_USER = ("switched to the new broker credentials", "beat publishes with them from now on")
KINDS = {"sys/leases/renew": "lease renewals", "sys/leases/revoke": "revocations",
         "auth/approle/login": "logins", "auth/token/renew-self": "token renewals",
         "auth/token/lookup-self": "token lookups"}


def kind(path: str, creds: str) -> str:
    return "new users" if path == creds else KINDS.get(path, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="measured seconds")
    parser.add_argument("--lease", type=int, default=20, help="the role's lease, seconds")
    parser.add_argument("--max-ttl", type=int, default=45, help="the role's max TTL, seconds")
    parser.add_argument("--rate", type=float, default=40.0, help="POST /task/ per second")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        audit = folder / "audit.log"
        with vault_for_rabbitmq(folder, ttl=options.lease, max_ttl=options.max_ttl, audit_log=audit) as vault:
            path = vault_deployment(vault, folder, "redis://127.0.0.1:6379/13", "  beat_schedule:\n"
                                    "    tick: {task: app.tasks.echo, schedule: 1.0, args: [tick]}\n")
            with stack(folder, path) as (url, logs):
                with Load(url, per_second=options.rate, at_least=0) as load:
                    time.sleep(3)
                    start = time.time()
                    time.sleep(options.seconds)
                    end = time.time()
                report(options, load, logs, audit, vault.path, start, end)


def report(options: argparse.Namespace, load: Load, logs: list[Path], audit: Path, creds: str,
           start: float, end: float) -> None:
    # -- 1. requests per process (a process is a token: each logs in with AppRole once) --------------
    by_token: dict[str, Counter[str]] = defaultdict(Counter)
    logins = 0
    for line in audit.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") != "request":
            continue
        request = entry.get("request") or {}
        moment = _epoch(entry.get("time", ""))
        if not start <= moment < end:
            continue
        what = kind(str(request.get("path", "")), creds)
        if what == "logins":
            logins += 1
            continue
        by_token[str((entry.get("auth") or {}).get("accessor") or "?")][what] += 1
    hours = (end - start) / 3600
    processes = len(by_token)
    totals: Counter[str] = sum(by_token.values(), Counter())
    total = sum(totals.values()) + logins
    print(f"Vault: leases of {options.lease} s, max TTL {options.max_ttl} s; {len(load.accepted)} tasks "
          f"accepted at {options.rate:g}/s over {end - start:.0f} s; {processes} processes asked Vault")
    print(f"  requests over the span: {dict(totals)}, logins {logins}; per process per hour at this lease: "
          f"{total / max(processes, 1) / hours:.0f}")
    cycles = (end - start) / options.max_ttl
    per_cycle = {what: count / max(processes, 1) / cycles for what, count in totals.items()}
    renewals = 24 * 3600 / (2 / 3 * 3600)  # a 1 h lease renewed every 40 min through a 24 h max TTL
    print("  per process per max TTL here: " + ", ".join(f"{what} {n:.1f}" for what, n in per_cycle.items())
          + f"; at ttl=1h max_ttl=24h that cycle is {renewals:.0f} renewals + 1 new user + 1 revocation "
          f"per 24 h: {(renewals + 2) / 24:.2f} requests per process per hour "
          "(+1.5/h for a 1 h AppRole token)")

    # -- 2. new user -> the process on it ----------------------------------------------------------
    lines = [item for item in stamped(logs) if start <= item[0] < end]
    pending: dict[str, float] = {}
    delays: list[float] = []
    switch_windows: set[int] = set()
    for moment, process, message in lines:
        if NEW_USER in message:
            pending[process] = moment
            switch_windows.add(int(moment - start))
        elif any(marker in message for marker in ON_NEW_USER) and process in pending:
            delays.append(moment - pending.pop(process))
    if delays:
        print(f"  new user -> on it (worker consumer, beat; {len(delays)} switches): median "
              f"{statistics.median(delays) * 1000:.0f} ms, p99 {percentile(delays, 0.99) * 1000:.0f} ms, "
              f"max {max(delays) * 1000:.0f} ms (target p99 < 1 s)")
    switches = sum(1 for _, _, message in lines if NEW_USER in message)
    print(f"  {switches} switches to a new user across the processes in the span")

    # -- 3. tasks/s in windows with a switch against the others ------------------------------------
    done = Counter(int(moment - start) for moment, _, message in lines if SUCCEEDED.search(message))
    seconds = range(int(end - start))
    during = [done[s] for s in seconds if s in switch_windows]
    control = [done[s] for s in seconds if s not in switch_windows]
    if during and control:
        dip = 1 - statistics.mean(during) / statistics.mean(control)
        print(f"  tasks/s in the {len(during)} one-second windows holding a switch: mean "
              f"{statistics.mean(during):.1f}; in the {len(control)} others: {statistics.mean(control):.1f}; "
              f"dip {dip:+.1%} (target < 2%)")
    connection_forced = sum(log.read_text(errors="replace").count("ConnectionForced") for log in logs)
    print(f"  connections closed by the broker (ConnectionForced in the logs): {connection_forced}")


def _epoch(stamp: str) -> float:
    from datetime import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)", stamp)
    if not match:
        return 0.0
    text = match.group(1)
    if "." in text:
        head, fraction = text.split(".")
        text = f"{head}.{fraction[:6]}"
    return datetime.fromisoformat(text + "+00:00").timestamp()


if __name__ == "__main__":
    main()
