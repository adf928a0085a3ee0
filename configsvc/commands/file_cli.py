"""The file commands: ``keygen``, ``encrypt``, ``decrypt``, ``set``, ``rotate-key``, ``edit``.

They work on a deployment file and need no app; ``set`` checks the value against configsvc's schema
(Flask's and Celery's settings), and the app's own schema when ``--app`` or ``FLASK_APP`` names the app.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from configsvc.commands.inspect import APP_OPTION
from configsvc.commands.reporting import reports_errors, warn
from configsvc.errors import ConfigError

if TYPE_CHECKING:  # the commands import what they need when they run: `configsvc --help` starts fast
    from configsvc.options import Options


def schema_options(ctx: click.Context) -> Options:
    """The options whose schema ``set`` and ``edit`` check values against: the app's when one is named
    (``--app``, ``FLASK_APP``) or found in the working directory, else configsvc's own."""
    from configsvc.commands.discovery import find_target
    from configsvc.options import Options

    named = ctx.meta.get(APP_OPTION) or os.environ.get("FLASK_APP")
    try:
        return find_target(named, os.environ).service.options
    except ConfigError:
        if named:
            raise
        return Options()  # an app here that does not load: the file commands do not need it


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the key to this new file (mode 0600; never overwritten).")
@reports_errors
def keygen(out: Path | None) -> None:
    """A new master key: printed, or written to a new 0600 file."""
    if out is None:
        from configsvc.crypto import keys

        click.echo(keys.generate())
        return
    try:
        from configsvc.crypto import keys

        keys.write_new_key_file(out)
    except FileExistsError:
        click.echo(f"error: {out} already exists; a key file is never overwritten", err=True)
        sys.exit(1)
    click.echo(f"wrote a new master key to {out} (mode 0600)")


@click.command()
@click.argument("path", type=_FILE)
@click.option("--only", metavar="REGEX", help="Encrypt only values whose dotted key matches.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the encrypted file here instead of replacing PATH.")
@reports_errors
def encrypt(path: Path, only: str | None, out: Path | None) -> None:
    """Encrypt the values of a plaintext deployment file (in place unless -o)."""
    from configsvc.commands import file_ops

    file_ops.encrypt_file(path, os.environ, only, out)
    click.echo(f"encrypted {out or path}", err=True)


@click.command()
@click.argument("path", type=_FILE)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the plaintext to this file (mode 0600) instead of stdout.")
@reports_errors
def decrypt(path: Path, out: Path | None) -> None:
    """Print the plaintext of an encrypted file, or write it to a 0600 file."""
    from configsvc.commands import file_ops

    text = file_ops.decrypt_file(path, os.environ)
    if out is None:
        click.echo(text, nl=False)
    else:
        file_ops.write_plaintext(out, text)
        click.echo(f"wrote the plaintext to {out} (mode 0600)", err=True)


@click.command(name="set")
@click.argument("path", type=_FILE)
@click.argument("key")
@click.argument("value", required=False)
@click.option("--string", "as_text", is_flag=True,
              help="Write VALUE as text, even if it reads as a number, true/false or null.")
@click.pass_context
@reports_errors
def set_command(ctx: click.Context, path: Path, key: str, value: str | None, as_text: bool) -> None:
    """Set one dotted KEY to VALUE (or '-' or nothing: read it from stdin), encrypted if the file is.

    VALUE is written as YAML reads it (8081 a number, true a boolean) unless the schema says the key is
    text or --string is given. A value that does not fit the schema is refused and the file left
    unchanged.
    """
    from configsvc.commands import file_ops

    if value is None or value == "-":
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
    for message in file_ops.set_value(path, os.environ, key, value, schema_options(ctx), as_text=as_text):
        warn(message)
    click.echo(f"set {key} in {path}", err=True)


@click.command(name="rotate-key")
@click.argument("path", type=_FILE)
@click.option("--data-key", is_flag=True, help="Also make a new data key and re-encrypt every value.")
@reports_errors
def rotate_key(path: Path, data_key: bool) -> None:
    """Re-wrap the file for the primary master key (the first in CONFIGSVC_KEY) only."""
    from configsvc.commands import file_ops

    file_ops.rotate_file(path, os.environ, data_key)
    click.echo(f"rotated {path}" + (" (new data key)" if data_key else ""), err=True)


@click.command()
@click.argument("path", type=_FILE)
@click.pass_context
@reports_errors
def edit(ctx: click.Context, path: Path) -> None:
    """Open $EDITOR on a private plaintext copy, check it, re-encrypt, replace the file atomically."""
    from configsvc.commands import file_ops

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"

    def reopen(problems: list[str]) -> bool:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        try:
            return click.confirm("re-open the editor to fix it?", default=True, err=True)
        except click.Abort:  # no answer (stdin closed): leave the file as it was
            return False

    try:
        file_ops.edit_file(path, os.environ, editor, reopen, lambda text: click.echo(text, err=True),
                           schema_options(ctx))
    except KeyboardInterrupt:
        click.echo(f"interrupted; {path} is unchanged and the plaintext copy was removed", err=True)
        sys.exit(130)
