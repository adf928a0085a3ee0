"""What each fuzz target does with one input. A target returns, or raises :class:`Finding`; any other
exception that escapes is a crash (nothing but ``configsvc.ConfigError`` may leave configsvc's readers)."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from configsvc import ConfigError, Options, mask_url, redact, resolve
from configsvc.crypto import keys, sops
from configsvc.crypto.document import seal
from configsvc.crypto.sops_values import to_bytes
from configsvc.formats import Plain, dump_yaml, parse_yaml
from tests.fuzz.corpus import AGE_IDENTITY, AGE_RECIPIENT, KEY, SEED_YAML, SENTINEL

OPTIONS = Options(defaults=None, schema={"port": range(1, 65536), "admin_token": str})


class Finding(Exception):
    """The input made configsvc do something it must not."""


def _resolve(work: Path, environ: dict[str, str]) -> Any:
    return resolve(environ, options=OPTIONS, root_path=work, instance_path=work / "instance", cwd=work,
                   emit_warnings=False)


def loader(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """A deployment file, as YAML and as JSON: a configuration, or a ConfigError."""
    for suffix in (".yaml", ".json"):
        path = work / f"api-config{suffix}"
        path.write_bytes(data)
        with contextlib.suppress(ConfigError):
            _resolve(work, {"FLASK_CONFIG": str(path)})


def encrypted_seeds() -> tuple[list[bytes], list[Any]]:
    """Valid encrypted files (all values, and some), with what each must decrypt to."""
    key = keys.parse(KEY, "fuzz")
    plain = parse_yaml(SEED_YAML).data
    files = [dump_yaml(seal(plain, key)).encode(), dump_yaml(seal(plain, key, only="secret|broker")).encode()]
    return files, []


def sops_seeds(work: Path) -> list[bytes]:
    """The seed file encrypted by the real sops: YAML and JSON, every value and only some."""
    plain = work / "seed.yaml"
    plain.write_text(SEED_YAML)
    (work / "seed.json").write_text(json.dumps(yaml.safe_load(SEED_YAML)))
    made = []
    for source, selector in ((plain, ()), (plain, ("--encrypted-regex", "secret|broker")),
                             (work / "seed.json", ())):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "sops"), "encrypt", "--age", AGE_RECIPIENT, *selector,
             str(source)], capture_output=True, check=True, timeout=60,
            env={"HOME": str(work), "SOPS_DISABLE_VERSION_CHECK": "1"})
        made.append(done.stdout)
    return made


def run_time_seeds(target: str, work: Path) -> list[bytes]:
    """Seeds made when the target runs (encrypted ones), for targets with no fixed corpus."""
    return encrypted_seeds()[0] if target == "encrypted" else sops_seeds(work)


def _leaves(node: Any, at: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    if isinstance(node, dict):
        return {path: leaf for key, value in node.items()
                for path, leaf in _leaves(value, (*at, key)).items()}
    if isinstance(node, list):
        return {path: leaf for index, value in enumerate(node)
                for path, leaf in _leaves(value, (*at, index)).items()}
    return {at: node.value if isinstance(node, Plain) else node}


def sops_file(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """A mutated SOPS file (read as YAML, then as JSON): refused with a ConfigError, or opened with every
    value that was encrypted exactly as it was (its bytes: sops binds neither the type tag nor added empty
    values, so those may differ)."""
    for suffix in (".yaml", ".json"):
        path = work / f"sops{suffix}"
        path.write_bytes(data)
        try:
            opened = sops.open_sops(path, data.decode("utf-8", "replace"), {"SOPS_AGE_KEY": AGE_IDENTITY})
        except ConfigError:
            continue
        expected = context["expected"]
        for at, value in _leaves(opened.tree).items():
            if at in opened.encrypted and at in expected and to_bytes(value) != to_bytes(expected[at]):
                raise Finding("a changed SOPS file was accepted with another value")


def encrypted(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """A mutated encrypted file: refused, or exactly the original values."""
    path = work / "api-config.yaml"
    path.write_bytes(data)
    try:
        config = _resolve(work, {"FLASK_CONFIG": str(path), "CONFIGSVC_KEY": KEY})
    except ConfigError:
        return
    if config.as_dict(reveal_secrets=True) != context["expected"]:
        raise Finding("a changed encrypted file was accepted with other values")


def environment(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """``NAME=VALUE`` lines as APP_ variables: a configuration, or a ConfigError."""
    environ = {}
    for line in data.decode("utf-8", "replace").splitlines()[:64]:
        name, _, value = line.partition("=")
        environ["APP_" + name[:80].replace("\x00", "")] = value[:4096].replace("\x00", "")
    with contextlib.suppress(ConfigError):
        _resolve(work, environ)


def http(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """A ``POST /task/`` body: 202, 400 or 413, always with a JSON answer, never a 500."""
    client = context["client"]
    response = client.post("/task/", data=data, content_type="application/json")
    if response.status_code not in (202, 400, 413):
        raise Finding(f"POST /task/ answered {response.status_code}")
    body = json.loads(response.data)
    if not isinstance(body, dict) or not ({"error"} <= set(body) or {"task_id"} <= set(body)):
        raise Finding("POST /task/ answered without a JSON error or task id")


FAILOVER = re.compile(r";[A-Za-z][A-Za-z0-9+.\-]*://")
SCHEMES = ("amqp", "redis", "rediss", "sqla+postgresql", "pyamqp")


def odd_url(data: bytes) -> str | None:
    """A URL whose password holds the planted value among the input's bytes, or None when the input's
    text around it makes it a failover list (``;scheme://``: kombu reads another URL there, and shows
    its user)."""
    text = data.decode("utf-8", "replace").replace("\x00", "")
    before, _, rest = text.partition("|")
    after, _, host = rest.partition("|")
    if FAILOVER.search(before + after):
        return None
    scheme = SCHEMES[len(text) % len(SCHEMES)]
    return f"{scheme}://u:{before}{SENTINEL}{after}@{host}"


def urls(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """A URL with a planted password and odd characters around it: the password never shows, in
    ``mask_url``, ``redact``, the resolved configuration's views or a warning."""
    url = odd_url(data)
    if url is None:
        return
    import warnings

    shown = [mask_url(url), repr(redact("celery.broker_url", url)), repr(redact("extra", [{"u": url}]))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = _resolve(work, {"APP_CELERY__BROKER_URL": url, "APP_MIRROR": url})
        except ConfigError as error:
            shown.append(str(error))
        else:
            shown += [repr(config), repr(config.as_dict()), repr(list(config.entries())),
                      repr(config.explain("celery.broker_url")), repr(config.explain("mirror"))]
    shown += [str(warning.message) for warning in caught]
    if any(SENTINEL in text for text in shown):
        raise Finding("a planted password was shown")


def providers(data: bytes, work: Path, context: dict[str, Any]) -> None:
    """What a ``command`` provider prints: a credential (a password, an expiry a timezone-aware datetime
    within the bounds) or a FetchFailed whose message holds no value. One input in 25 goes through a
    real program (its output read through the pipe, up to the 1 MiB limit), the rest to the reader."""
    from datetime import UTC, datetime

    from configsvc.credentials.base import FetchFailed
    from configsvc.credentials.command import CommandProvider, credential_from_json

    context["count"] = context.get("count", 0) + 1
    try:
        if context["count"] % 25 == 0:
            printed = work / "printed"
            printed.write_bytes(data)
            credential = CommandProvider("broker_url", {"command": ["/bin/cat", str(printed)], "timeout": 5},
                                         {}).fetch()
        else:
            credential = credential_from_json(data, "the program")
    except FetchFailed as error:
        if SENTINEL in str(error) or "\n" in str(error):
            raise Finding("a failed fetch's message shows a value or is not one line") from None
        return
    if not credential.password.reveal():
        raise Finding("a credential without a password")
    expires = credential.expires_at
    if expires is not None:
        if expires.tzinfo is None:
            raise Finding("an expiry without a timezone")
        if not datetime(1970, 1, 1, tzinfo=UTC) <= expires <= datetime.now(UTC).replace(year=9999):
            raise Finding("an expiry out of bounds")
        credential.seconds_left()  # arithmetic on it must not overflow
    if SENTINEL in repr(credential):
        raise Finding("a credential's repr shows its password")


def prepare(target: str, work: Path) -> dict[str, Any]:
    """What a target needs once per run (an app for ``http``, the expected values for ``encrypted``)."""
    if target == "http":
        from app import create_app

        app = create_app({"celery": {"broker_url": "memory://", "result_backend": "cache+memory://"}},
                         environ={"APP_ENV": "testing"})
        return {"client": app.test_client()}
    if target == "encrypted":
        path = work / "plain.yaml"
        path.write_text(SEED_YAML)
        expected = _resolve(work, {"FLASK_CONFIG": str(path)}).as_dict(reveal_secrets=True)
        return {"expected": expected}
    if target == "sops":
        return {"expected": _leaves(parse_yaml(SEED_YAML).data)}
    return {}


TARGETS: dict[str, Callable[[bytes, Path, dict[str, Any]], None]] = {
    "loader": loader, "encrypted": encrypted, "environment": environment, "http": http,
    "sops": sops_file, "urls": urls, "providers": providers,
}
