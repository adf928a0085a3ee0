"""A small mutational fuzzer: byte edits, plus the tokens that matter to YAML, JSON and configsvc."""

from __future__ import annotations

import random

MAX_INPUT = 256 * 1024
TOKENS = [b"[", b"]", b"{", b"}", b"&a ", b"*a", b"!!int ", b"!!str ", b"!<x> ", b"<<: ", b"\n", b": ",
          b"- ", b'"', b"'", b"ENC[", b"configsvc_encryption:", b"\t", b"#", b"\x00", b"\xff",
          b"\xef\xbb\xbf",
          b"9" * 60, b"1e999", b"null", b"~", b"yes", b"0x1F", b"@format {env}", b"\\u0000", b"celery:",
          b"broker_url", b"SECRET_KEY", b"__", b"=", b",", b"---\n", b"...\n", b"%YAML 1.1\n"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits of ``data``."""
    out = bytearray(data or b"a: 1\n")
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) + 1)
        operation = rng.randrange(9)
        if operation == 0 and out:
            index = min(at, len(out) - 1)
            out[index] ^= 1 << rng.randrange(8)
        elif operation == 1:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif operation == 2:
            del out[at:at + rng.randint(1, 64)]
        elif operation == 3:
            chunk = out[at:at + rng.randint(1, 256)]
            out[at:at] = chunk * rng.randint(1, 8)
        elif operation == 4:
            del out[at:]
        elif operation in (5, 8):
            out[at:at] = rng.choice(TOKENS)
        elif operation == 6:
            out[at:at] = rng.choice((b"[", b"{", b"- ", b"a: &a [*a, ")) * rng.randint(2, 400)
        elif operation == 7 and len(out) > 2:
            first, second = sorted(rng.sample(range(len(out)), 2))
            out[first], out[second] = out[second], out[first]
        if not out:
            out = bytearray(b"a")
    return bytes(out[:MAX_INPUT])
