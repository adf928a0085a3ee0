"""Seed inputs for each target, including every input the hardening run found (they must stay fixed)."""

from __future__ import annotations

import json
from collections.abc import Callable

SENTINEL = "SENTINEL-SECRET-7f3a91"
KEY = "configsvc1:" + "A" * 43  # a fixed test key, for the encrypted target only
# A fixed age key pair, for the sops target only (its seeds are encrypted by the real sops at run time).
AGE_IDENTITY = "AGE-SECRET-KEY-1SGFKZXRJWTQHNZ5EAUWPAWVMVTFFLC8Q068F30N55X0M2TD7NNAQNR0TT6"
AGE_RECIPIENT = "age1wn2z29cnwl7zzpalkz8pftqs46jrvxaxn5rxsh2ygaj0squ0tgsqx2w3ng"

SEED_YAML = f"""\
port: 8080
secret_key: {SENTINEL}
admin_token: token-{SENTINEL}
secret_key_fallbacks: [older-{SENTINEL}]
feature:
  level: 3
  names: [a, b]
celery:
  broker_url: amqp://app:{SENTINEL}@rabbit:5672//
  result_backend: redis://:{SENTINEL}@localhost:6379/0
  worker_prefetch_multiplier: 4
  broker_transport_options: {{visibility_timeout: 3600}}
"""


def _alias_bomb(depth: int, encrypted: bool) -> bytes:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, depth + 1)]
    if encrypted:
        lines.append("configsvc_encryption: {version: 1, only: null, keys: [{id: x, wrapped: eA==}], mac: x}")
    return ("\n".join(lines) + "\n").encode()


def loader_seeds() -> list[bytes]:
    """Deployment files: good ones, and each shape the hardening run found crashing or leaking."""
    good_json = json.dumps({"port": 8080, "secret_key": SENTINEL, "celery": {"broker_url": "redis://r/0"}})
    return [
        SEED_YAML.encode(),
        good_json.encode(),
        b"a: " + b"[" * 100_000,                                             # segfault in the C parser
        ('{"a": ' + "[" * 3000 + "]" * 3000 + "}").encode(),                 # JSON RecursionError
        b"a:\n  " + b"- " * 5000 + b"x\n",                                   # YAML 5,000 deep
        b"configsvc_encryption: {version: 1}\na:\n  " + b"- " * 900 + b"x\n",  # encrypted, 900 deep
        ('{"port": ' + "9" * 5000 + "}").encode(),                          # JSON int ValueError
        f"secret_key: !!int {SENTINEL}\n".encode(),                          # value in a traceback
        f"secret_key: !<{SENTINEL}>\n".encode(),                             # value quoted as a tag
        _alias_bomb(6, encrypted=True),                                     # 10 s inside decryption
        _alias_bomb(7, encrypted=True),                                     # out of memory
        b"a: &a [x, *a]\n",                                                 # refers to itself
        SEED_YAML.encode()[: SEED_YAML.index("celery")],                     # half-written
        b"\xef\xbb\xbfport: 1\n\tdebug: true\n\x00",                        # BOM, tab, NUL
        # round 3: an unterminated string of escaped quotes made the JSON nesting scan quadratic
        b'{"a": "' + b'\\"' * 60_000,                                       # 62 s before
        b'{"a": ["' + b'\\"[' * 40_000,                                     # brackets among them
        b'"' * 200_000,                                                     # quotes only
    ]


def environment_seeds() -> list[bytes]:
    """Environments as ``NAME=VALUE`` lines (each name gets the APP_ prefix)."""
    return [
        b"PORT=8080\nSECRET_KEY=1e3\nCELERY__BROKER_URL=amqp://u:p@h//",
        b"CELERY__WORKER_PREFETCH_MULTIPLIER=x\nDEBUG=sometimes",
        b"CELERY_BROKER_URL=amqp://a//\nCELERY__BROKER_URL=amqp://b//",
        b"A____B=1\nFEATURE=on\nFEATURE__LEVEL=2",
        b"ENV=staging",
        b"CELERY__BROKER_TRANSPORT_OPTIONS={\"a\": " + b"[" * 3000 + b"]" * 3000 + b"}",
        b"CELERY__ACCEPT_CONTENT=" + b"[" * 5000,
        b"SECRT_KEY=x\nCELERY__BORKER_URL=amqp://x//",
        b'CELERY__BROKER_TRANSPORT_OPTIONS={"a": "' + b'\\"' * 2000,         # the quadratic scan, round 3
    ]


def http_seeds() -> list[bytes]:
    """Bodies for ``POST /task/``."""
    return [
        b'{"seconds": 0}',
        b"",
        b"{not json",
        b'{"seconds": ' + b"[" * 3000 + b"]" * 3000 + b"}",               # 500 with RecursionError
        b"[" + b",".join([b"0"] * 100_000) + b"]",                          # a list of 1e5
        b"{" + b",".join(b'"k%d": 0' % i for i in range(50_000)) + b"}",    # an object of 5e4
        b'{"seconds": 1e999}',
        b'{"seconds": NaN}',
        b'{"a": "' + b'\\"' * 8000,                                         # 1.4 s of CPU before (round 3)
        b'["' + b'\\"[{' * 4000,
    ]


def url_seeds() -> list[bytes]:
    """``BEFORE|AFTER|HOST``: the planted password sits between BEFORE and AFTER (see targets.odd_url)."""
    return [
        b"||rabbit:5672//",
        b"PA/|SS|h/v",                 # round 3: '/' moved the rest of the password into the path
        b"a#||h//", b"a?b||h//", b"@||h//", b"x;||h//",
        b"||[::1/0",                   # an unreadable host: the URL came back unchanged
        b"%2F||h//", b"||h/0?password=p&x=@y", b"/@#?;[]||h:port//",
    ]


def provider_seeds() -> list[bytes]:
    """What a ``command`` provider may print: good credentials, and every output the hardening run found
    giving a traceback (deep nesting, NaN, Infinity, huge and negative expiries), odd encodings and sizes."""
    good = {"username": "svc", "password": SENTINEL, "expires_in": 600}
    seeds = [json.dumps(good).encode(), json.dumps({"password": SENTINEL}).encode(),
             json.dumps({"password": SENTINEL, "expires_at": "2026-12-02T10:00:00Z"}).encode(),
             json.dumps({"password": SENTINEL, "expires_at": 1900000000}).encode(),
             b"[" * 200_000, b"{\"a\":" * 5000 + b"1" + b"}" * 5000]
    for field in ("expires_in", "expires_at"):
        for number in (b"NaN", b"Infinity", b"-Infinity", b"1e300", b"1e12", b"1e20", b"-1e15", b"-0",
                       b"9" * 5000, b"0.0000001", b'"1e400"', b'"nan"', b"true", b"null", b"[]"):
            seeds.append(b'{"password": "' + SENTINEL.encode() + b'", "' + field.encode() + b'": ' + number
                         + b"}")
    seeds += [json.dumps(good).encode("utf-16"), b"\xff\xfe" + json.dumps(good).encode(),
              json.dumps(good).encode() + b"\x00" * 100, b"", b"\n", b"null", b"[]", b'"password"',
              b'{"password": ""}', b'{"password": 12}', b'{"password": "x", "username": 0}',
              json.dumps({"password": SENTINEL * 50_000}).encode()]
    return seeds


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "loader": loader_seeds,
    "encrypted": lambda: [],  # made at run time from the loader's good seeds, with KEY
    "sops": lambda: [],  # made at run time by the real sops, for AGE_RECIPIENT
    "environment": environment_seeds,
    "http": http_seeds,
    "urls": url_seeds,
    "providers": provider_seeds,
}
