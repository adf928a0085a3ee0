"""The fingerprint of what a process runs: the same wherever the same files are applied, and nothing more.

It is made from the bytes of the sources that can change while a process runs (the deployment file and
the files ``*_FILE`` variables name), each named by its role, never by its path, so two hosts that mount
the same contents at different paths agree. The digests go through scrypt, so a fingerprint cannot be
used to test guesses of a value in the file at any useful speed; 16 bytes of it are shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

_SALT = b"configsvc-fingerprint-v1"
NONE = "none"


def fingerprint(file_digests: Mapping[str, str]) -> str:
    """The fingerprint of the files read (role -> SHA-256 hex digest); ``"none"`` when there are none."""
    if not file_digests:
        return NONE
    material = "\n".join(f"{role}\t{digest}" for role, digest in sorted(file_digests.items()))
    derived = hashlib.scrypt(material.encode(), salt=_SALT, n=2**12, r=8, p=1, dklen=16)
    return derived.hex()
