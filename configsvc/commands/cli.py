"""The ``configsvc`` command: ``show``, ``explain``, ``check``.

Every command resolves the configuration the way the web app and the worker do (``FLASK_CONFIG``,
``APP_ENV``, ``APP_*``). Problems are printed one per line and exit with status 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from configsvc.commands import file_ops as file_commands
from configsvc.core.config import Config
from configsvc.core.redaction import masked, reveal
from configsvc.core.resolve import resolve
from configsvc.crypto import keys
from configsvc.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Turn configuration errors into a plain message on stderr and exit status 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            for message in error.warnings:
                click.echo(f"warning: {message}", err=True)
            click.echo(f"error: {error}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _resolve(environ: Mapping[str, str]) -> Config:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = resolve(environ, emit_warnings=False)
    for message in config.warnings:
        click.echo(f"warning: {message}", err=True)
    return config


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@click.group()
def main() -> None:
    """Resolve, inspect and check the application's configuration."""


@main.command()
@click.option("--reveal", "reveal_secrets", is_flag=True, help="Print secrets in clear text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_reports_errors
def show(reveal_secrets: bool, as_json: bool) -> None:
    """The resolved configuration, each value with its source."""
    config = _resolve(os.environ)
    display = reveal if reveal_secrets else masked
    entries = list(config.entries())
    if as_json:
        document = {
            "env": config.env,
            "deployment_file": str(config.deployment_file) if config.deployment_file else None,
            "settings": {
                e.key: {"value": display(e.value), "source": e.source, "origin": e.origin}
                for e in entries
            },
        }
        click.echo(json.dumps(document, indent=2, default=str))
        return
    rows = [(e.key, _text(display(e.value)), e.source, e.origin) for e in entries]
    header = ("KEY", "VALUE", "SOURCE", "WHERE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    click.echo(f"# env: {config.env}; deployment file: {config.deployment_file or '(none)'}")
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                   + "  " + row[3])


@main.command()
@click.argument("key")
@_reports_errors
def explain(key: str) -> None:
    """Every layer's value for one dotted KEY, and which one wins."""
    config = _resolve(os.environ)
    explanation = config.explain(key)
    if not explanation.found:
        click.echo(f"error: no source sets {explanation.key}", err=True)
        sys.exit(1)
    click.echo(explanation.key)
    width = max(len(layer.source) for layer in explanation.layers)
    for layer in explanation.layers:
        if not layer.present:
            line = f"  {layer.source.ljust(width)}  (not set)"
        else:
            line = f"  {layer.source.ljust(width)}  {_text(masked(layer.value))}  [{layer.origin}]"
            if layer.source == explanation.winner:
                line += "  <- wins"
        click.echo(line)
    if explanation.winner is None:
        sources = [layer.source for layer in explanation.layers if layer.present]
        click.echo(f"= {_text(masked(explanation.value))}  (a mapping, merged key by key from: "
                   f"{', '.join(sources)})")
    else:
        click.echo(f"= {_text(masked(explanation.value))}  (from {explanation.winner})")


@main.command()
@_reports_errors
def check() -> None:
    """Resolve and validate; exit 0, or 1 with every problem listed."""
    config = _resolve(os.environ)
    count = sum(1 for _ in config.entries())
    click.echo(f"ok: {count} settings for env {config.env!r} "
               f"(deployment file: {config.deployment_file or 'none'})")


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the key to this new file (mode 0600; never overwritten).")
@_reports_errors
def keygen(out: Path | None) -> None:
    """A new master key: printed, or written to a new 0600 file."""
    if out is None:
        click.echo(keys.generate())
        return
    try:
        keys.write_new_key_file(out)
    except FileExistsError:
        click.echo(f"error: {out} already exists; a key file is never overwritten", err=True)
        sys.exit(1)
    click.echo(f"wrote a new master key to {out} (mode 0600)")


@main.command()
@click.argument("path", type=_FILE)
@click.option("--only", metavar="REGEX", help="Encrypt only values whose dotted key matches.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the encrypted file here instead of replacing PATH.")
@_reports_errors
def encrypt(path: Path, only: str | None, out: Path | None) -> None:
    """Encrypt the values of a plaintext deployment file (in place unless -o)."""
    file_commands.encrypt_file(path, os.environ, only, out)
    click.echo(f"encrypted {out or path}", err=True)


@main.command()
@click.argument("path", type=_FILE)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the plaintext to this file (mode 0600) instead of stdout.")
@_reports_errors
def decrypt(path: Path, out: Path | None) -> None:
    """Print the plaintext of an encrypted file, or write it to a 0600 file."""
    text = file_commands.decrypt_file(path, os.environ)
    if out is None:
        click.echo(text, nl=False)
    else:
        file_commands.write_plaintext(out, text)
        click.echo(f"wrote the plaintext to {out} (mode 0600)", err=True)


@main.command(name="set")
@click.argument("path", type=_FILE)
@click.argument("key")
@click.argument("value", required=False)
@_reports_errors
def set_command(path: Path, key: str, value: str | None) -> None:
    """Set one dotted KEY to VALUE (or '-' or nothing: read it from stdin), encrypted if the file is."""
    if value is None or value == "-":
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
    file_commands.set_value(path, os.environ, key, value)
    click.echo(f"set {key} in {path}", err=True)


@main.command(name="rotate-key")
@click.argument("path", type=_FILE)
@click.option("--data-key", is_flag=True, help="Also make a new data key and re-encrypt every value.")
@_reports_errors
def rotate_key(path: Path, data_key: bool) -> None:
    """Re-wrap the file for the primary master key (the first in CONFIGSVC_KEY) only."""
    file_commands.rotate_file(path, os.environ, data_key)
    click.echo(f"rotated {path}" + (" (new data key)" if data_key else ""), err=True)


@main.command()
@click.argument("path", type=_FILE)
@_reports_errors
def edit(path: Path) -> None:
    """Open $EDITOR on a private plaintext copy, check it, re-encrypt, replace the file atomically."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"

    def reopen(problems: list[str]) -> bool:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        try:
            return click.confirm("re-open the editor to fix it?", default=True, err=True)
        except click.Abort:  # no answer (stdin closed): leave the file as it was
            return False

    try:
        file_commands.edit_file(path, os.environ, editor, reopen, lambda text: click.echo(text, err=True))
    except KeyboardInterrupt:
        click.echo(f"interrupted; {path} is unchanged and the plaintext copy was removed", err=True)
        sys.exit(130)
