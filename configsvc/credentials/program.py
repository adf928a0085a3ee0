"""Running a provider's program: in a process group of its own, its output and its time both bounded.

A program is untrusted: it may print without end, start helpers that outlive it, or leave a daemon
holding its output open. :func:`run_program` reads at most :data:`MAX_OUTPUT` bytes, waits at most the
provider's timeout, and ends the whole group when it returns (a wrapper's ``sleep`` does not survive each
retry). Once the program itself has exited, what it printed is all there is: a helper still holding the
output open (even one that left the group) is not waited for past :data:`AFTER_EXIT_SECONDS`. Its stderr
is never read.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: The most a program may print: a credential is a few kilobytes at most.
MAX_OUTPUT = 1 << 20
#: How long output is still read once the program has exited (a helper of its may hold the pipe open).
AFTER_EXIT_SECONDS = 0.2


class ProgramFailed(Exception):
    """Why the program gave no usable output (one line, never a value it printed)."""


@dataclass(frozen=True)
class Finished:
    output: bytes
    returncode: int


def run_program(argv: Sequence[str], *, timeout: float, cwd: str | None,
                environ: Mapping[str, str]) -> Finished:
    """Run ``argv`` (never through a shell) and return what it printed and its exit status;
    :class:`ProgramFailed` when it cannot be run, prints more than :data:`MAX_OUTPUT` bytes or does not
    finish within ``timeout`` seconds."""
    try:
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, cwd=cwd, env=dict(environ),
                                   start_new_session=True)
    except OSError as error:
        raise ProgramFailed(f"could not be run ({error.strerror or type(error).__name__})") from None
    try:
        output = _read(process, time.monotonic() + timeout, timeout)
    finally:
        returncode = _end_group(process)
    if returncode is None:
        raise ProgramFailed(f"did not answer within {timeout:g} s")
    return Finished(output, returncode)


def _read(process: subprocess.Popen[bytes], deadline: float, timeout: float) -> bytes:
    """What the program prints, once it has exited and its output has ended (or, past its exit, for at
    most :data:`AFTER_EXIT_SECONDS` more). The exit is seen through a pidfd, which does not reap the
    program: its process group (named by its pid) stays its own until :func:`_end_group`."""
    assert process.stdout is not None
    output = process.stdout.fileno()
    exit_fd = os.pidfd_open(process.pid)
    chunks: list[bytes] = []
    size = 0
    exited_at: float | None = None
    ended = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(output, selectors.EVENT_READ)
            selector.register(exit_fd, selectors.EVENT_READ)
            while not (ended and exited_at is not None):
                now = time.monotonic()
                if exited_at is not None and now >= exited_at + AFTER_EXIT_SECONDS:
                    break  # the program is done; a helper of its holds the output open
                if now >= deadline:
                    raise ProgramFailed(f"did not answer within {timeout:g} s")
                until = deadline if exited_at is None else min(deadline, exited_at + AFTER_EXIT_SECONDS)
                for key, _ in selector.select(until - now):
                    if key.fd == exit_fd:
                        selector.unregister(exit_fd)
                        exited_at = time.monotonic()
                        continue
                    data = os.read(output, 65536)
                    if not data:
                        selector.unregister(output)
                        ended = True
                        continue
                    size += len(data)
                    if size > MAX_OUTPUT:
                        raise ProgramFailed(f"printed more than {MAX_OUTPUT // (1 << 20)} MiB")
                    chunks.append(data)
    finally:
        os.close(exit_fd)
    return b"".join(chunks)


def _end_group(process: subprocess.Popen[bytes]) -> int | None:
    """End every process left in the program's group, then reap the program: its exit status, or None
    when it had not exited by itself (it was killed here)."""
    exited = _has_exited(process.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing is left in the group
        os.killpg(process.pid, signal.SIGKILL)
    returncode = process.wait()
    if process.stdout is not None:
        process.stdout.close()
    return returncode if exited else None


def _has_exited(pid: int) -> bool:
    """True when ``pid`` (a child) has exited, without reaping it."""
    try:
        found = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # pragma: no cover - reaped already
        return True
    return found is not None
