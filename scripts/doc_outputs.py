"""Every command output the docs show, produced by running the commands: ``make docs`` runs this first.

The commands run from the checkout against a deployment file written here, in a folder of its own (shown
as ``/srv/app`` in the output; the checkout as ``<checkout>``). ``fleet`` asks a real worker of the
reference app on the embedded broker. The outputs go to ``docs/_generated/NAME.txt``, one ``$ command``
line and what it printed; the pages include them, so what the docs show is what the commands print.

    .venv/bin/python scripts/doc_outputs.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = PROJECT / "docs" / "_generated"

DEPLOYMENT = """\
port: 8080
secret_key: 3f1c5e8a9b2d4f6071a8c3e5d7f90b1c
admin_token: 7c2b9e4f1a6d3c8b
celery:
  broker_url: amqp://app:s3cret@localhost:5672//
  result_backend: redis://localhost:6379/0
"""
BAD_YAML = "port: 8080\nsecret_key: x\ncelery:\n  accept_content: [json\n"
BAD_VALUES = "port: http\nsecret_key: development-only\ncelery:\n  task_acks_late: maybe\n"


class Runner:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        base = {name: value for name, value in os.environ.items()
                if not name.startswith(("APP_", "CONFIGSVC_", "FLASK_", "CELERY_", "SOPS_"))}
        self.base = {**base, "COLUMNS": "200"}

    def run(self, name: str, shown: str, argv: list[str], env: dict[str, str] | None = None,
            cwd: Path | None = None) -> None:
        """Run ``argv``; write ``$ shown`` and its output (stdout and stderr as printed) to ``NAME.txt``."""
        done = subprocess.run(argv, cwd=cwd or self.folder, env={**self.base, **(env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        text = self.readable(done.stdout)
        if "Traceback" in text:
            raise SystemExit(f"{name}: the command printed a traceback:\n{text}")
        (OUT / f"{name}.txt").write_text(f"$ {shown}\n{text}")

    def readable(self, text: str) -> str:
        return text.replace(str(self.folder), "/srv/app").replace(str(PROJECT), "<checkout>")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    configsvc = str(BIN / "configsvc")
    with tempfile.TemporaryDirectory(prefix="configsvc-docs-") as temporary:
        folder = Path(temporary)
        (folder / "secrets").mkdir()
        (folder / "secrets" / "api-config.yaml").write_text(DEPLOYMENT)
        (folder / "bad.yaml").write_text(BAD_YAML)
        (folder / "bad2.yaml").write_text(BAD_VALUES)
        run = Runner(folder).run
        deployment = {"FLASK_CONFIG": "secrets/api-config.yaml", "FLASK_APP": "app"}
        run("show", "FLASK_CONFIG=secrets/api-config.yaml APP_CELERY__WORKER_PREFETCH_MULTIPLIER=4 "
            "configsvc --app app show",
            [configsvc, "show"], {**deployment, "APP_CELERY__WORKER_PREFETCH_MULTIPLIER": "4"})
        run("explain", "APP_CELERY__BROKER_URL=amqp://app:n3w@rabbit2:5672// configsvc --app app explain "
            "celery.broker_url", [configsvc, "explain", "celery.broker_url"],
            {**deployment, "APP_CELERY__BROKER_URL": "amqp://app:n3w@rabbit2:5672//"})
        run("check", "configsvc --app app check", [configsvc, "check"], deployment)
        # This machine's RabbitMQ has no user "app": the refusal, as a runbook's check shows it.
        run("check-connect", "configsvc --app app check --connect", [configsvc, "check", "--connect"],
            deployment)
        empty = folder / "elsewhere"
        empty.mkdir()
        run("check-no-app", "configsvc --verbose check      # in a folder with no app",
            [configsvc, "--verbose", "check"], cwd=empty)
        run("check-bad-yaml", "FLASK_CONFIG=bad.yaml configsvc --app app check", [configsvc, "check"],
            {"FLASK_CONFIG": "bad.yaml", "FLASK_APP": "app"})
        run("check-problems", "FLASK_CONFIG=bad2.yaml APP_ENV=production APP_DEBUG=sometimes configsvc "
            "--app app check", [configsvc, "check"],
            {"FLASK_CONFIG": "bad2.yaml", "FLASK_APP": "app", "APP_ENV": "production",
             "APP_DEBUG": "sometimes"})
        run("set-refused", "configsvc set secrets/api-config.yaml celery.task_acks_late maybe",
            [configsvc, "set", "secrets/api-config.yaml", "celery.task_acks_late", "maybe"])
        (folder / "sealed").mkdir()
        encrypted = folder / "sealed" / "api-config.yaml"
        shutil.copy(folder / "secrets" / "api-config.yaml", encrypted)
        key = folder / "sealed" / "master.key"
        subprocess.run([configsvc, "keygen", "--out", str(key)], check=True, capture_output=True)
        run("encrypt", "configsvc encrypt api-config.yaml --only 'secret|broker' && cat api-config.yaml",
            ["sh", "-c", f"{configsvc} encrypt {encrypted} --only 'secret|broker' && cat {encrypted}"],
            {"CONFIGSVC_KEY_FILE": str(key)})
        credentials(folder, run)
        fleet(folder, run)
        fleet(folder, run, provided=True)
    print(f"wrote {len(list(OUT.glob('*.txt')))} outputs to {OUT.relative_to(PROJECT)}")
    return 0


TOKEN_PROGRAM = """#!/bin/sh
# The docs' stand-in for a token helper: a password valid 15 minutes.
echo '{"username": "%s", "password": "%s", "expires_in": 900}'
"""


def token_program(path: Path, user: str, password: str) -> Path:
    path.write_text(TOKEN_PROGRAM % (user, password))
    path.chmod(0o700)
    return path


def credentials(folder: Path, run: object) -> None:
    """``explain`` of a URL whose user and password come from a provider, and ``check`` when the provider
    fails."""
    (folder / "provided").mkdir()
    program = token_program(folder / "provided" / "mq-token", "svc-celery", "a-token-never-shown")
    broken = folder / "provided" / "mq-token-broken"
    broken.write_text("#!/bin/sh\necho 'token service unavailable' >&2\nexit 1\n")
    broken.chmod(0o700)
    for name, command in (("api-config.yaml", program), ("broken.yaml", broken)):
        (folder / "provided" / name).write_text(
            "secret_key: 3f1c5e8a9b2d4f6071a8c3e5d7f90b1c\n"
            "celery:\n  broker_url: amqp://mq.internal:5672/prod\n"
            f"credentials:\n  broker_url:\n    provider: command\n    command: [{command}]\n")
    run("explain-provided", "configsvc --app app explain celery.broker_url",  # type: ignore[operator]
        [str(BIN / "configsvc"), "explain", "celery.broker_url"],
        {"FLASK_CONFIG": "provided/api-config.yaml", "FLASK_APP": "app"})
    run("check-provider-fails", "FLASK_CONFIG=provided/broken.yaml configsvc --app app check",  # type: ignore[operator]
        [str(BIN / "configsvc"), "check"], {"FLASK_CONFIG": "provided/broken.yaml", "FLASK_APP": "app"})


def fleet(folder: Path, run: object, provided: bool = False) -> None:
    """``configsvc fleet`` asking a real solo worker of the reference app, on this machine's RabbitMQ
    (127.0.0.1:5672, the default vhost) with a queue of its own; with ``provided``, the worker's user and
    password come from a ``command`` provider."""
    name = "fleet-provided" if provided else "fleet"
    config = folder / f"{name}.yaml"
    broker = "amqp://guest@127.0.0.1:5672//" if provided else "amqp://guest:guest@127.0.0.1:5672//"
    provider = (f"credentials:\n  broker_url:\n    provider: command\n"
                f"    command: [{token_program(folder / 'guest-token', 'guest', 'guest')}]\n"
                if provided else "")
    config.write_text("secret_key: 3f1c5e8a9b2d4f6071a8c3e5d7f90b1c\n"
                      f"celery:\n  broker_url: {broker}\n"
                      f"  result_backend: file://{folder / 'results'}\n" + provider)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("APP_", "CONFIGSVC_", "FLASK_"))},
           "FLASK_CONFIG": str(config)}
    worker = subprocess.Popen([str(BIN / "celery"), "-A", "worker_entry.celery", "worker", "-P", "solo",
                               "-n", "worker1@docs", "-Q", f"configsvc-docs-{os.getpid()}",
                               "--without-mingle", "--without-gossip", "-l", "warning"],
                              cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        run(name, "configsvc --app app fleet --wait 30 --expect 1",  # type: ignore[operator]
            [str(BIN / "configsvc"), "fleet", "--wait", "30", "--expect", "1"],
            {"FLASK_CONFIG": str(config), "FLASK_APP": "app"}, cwd=PROJECT)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    if "all 1 verified" not in (OUT / f"{name}.txt").read_text():
        raise SystemExit(f"{name}: the worker did not answer (is RabbitMQ running on 127.0.0.1:5672?):\n"
                         + (OUT / f"{name}.txt").read_text())


if __name__ == "__main__":
    sys.exit(main())
