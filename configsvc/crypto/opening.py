"""Opening a deployment file: which format it is in, which key opens it, and the no-downgrade rules.

Every reader of a deployment file — the deployment-file source at start and on every reload, and the file
commands (``set``, ``edit``, ``encrypt``, ``rotate-key``) — decides the same things here: plaintext,
configsvc's format or SOPS; whether a file the master key does not protect is taken
(:func:`configsvc.crypto.keys.unprotected_refusal`); and whether a running process may move from one
format to another on a reload (:func:`format_change_problem`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from configsvc.crypto import keys
from configsvc.errors import Problem

FORMAT_NAMES = {None: "plaintext", "configsvc": "encrypted (configsvc)", "sops": "a SOPS file"}


def format_change_problem(was: str | None, now: str | None, environ: Mapping[str, str],
                          path: str | os.PathLike[str] | None = None) -> Problem | None:
    """Why a running process refuses to move from a deployment file in format ``was`` to one in ``now``
    (``None`` plaintext, ``"configsvc"``, ``"sops"``); None when the move is taken.

    Never from encrypted to plaintext (someone who removed the key and wrote plaintext could choose every
    value), unless the deployment opted out with ``CONFIGSVC_ALLOW_PLAINTEXT=1``; never between
    configsvc's format and SOPS (anyone can write a SOPS file for the file's public age recipients), even
    where both are accepted at start (``CONFIGSVC_ALLOW_SOPS=1``): a restart switches. Plaintext to
    encrypted is taken: nobody gains by it.
    """
    if was is None or now == was:
        return None
    if now is None and keys.plaintext_allowed(environ):
        return None
    how = (f"restart with {keys.ALLOW_PLAINTEXT_VARIABLE}=1 to accept plaintext on purpose" if now is None
           else "restart the process to change formats")
    return Problem(
        f"the deployment file was {FORMAT_NAMES[was]} and is now {FORMAT_NAMES[now]}: refused, a running "
        f"process does not switch formats on a reload (put the file back as it was, or {how})",
        kind="decrypt", source="deployment file", path=os.fspath(path) if path is not None else None)
