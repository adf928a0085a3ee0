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
from typing import Any, TypeVar

import click

from configsvc.config import Config
from configsvc.errors import ConfigError
from configsvc.redaction import masked, reveal
from configsvc.resolve import resolve

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
