"""``show``, ``explain`` and ``check``: resolve the app's configuration exactly as the app does.

They find the app as ``flask`` does (see :mod:`configsvc.commands.discovery`) and resolve with its
``ConfigService`` options, from the process environment.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

import click
from flask.cli import ScriptInfo

from configsvc.commands.discovery import Target, find_target
from configsvc.commands.reporting import note, reports_errors, warn
from configsvc.core.config import Config
from configsvc.core.redaction import masked, reveal

APP_OPTION = "configsvc_app"


def target_of(ctx: click.Context) -> Target:
    """The app the command is for: ``configsvc --app``, or the app ``flask`` was told about."""
    info = ctx.find_object(ScriptInfo)
    if info is not None:  # flask configsvc ...
        return find_target(info.app_import_path, os.environ, info.create_app)
    return find_target(ctx.meta.get(APP_OPTION), os.environ)


def resolve_for(ctx: click.Context) -> Config:
    """Resolve the target app's configuration; warnings and notes go to stderr."""
    target = target_of(ctx)
    if target.note:
        note(target.note)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = target.service.resolve(os.environ, root_path=target.root_path,
                                        instance_path=target.instance_path, emit_warnings=False,
                                        app_celery=target.app_celery)
    for message in config.warnings:
        warn(message)
    return config


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@click.command()
@click.option("--reveal", "reveal_secrets", is_flag=True, help="Print secrets in clear text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@reports_errors
def show(ctx: click.Context, reveal_secrets: bool, as_json: bool) -> None:
    """The resolved configuration, each value with its source."""
    config = resolve_for(ctx)
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


@click.command()
@click.argument("key")
@click.pass_context
@reports_errors
def explain(ctx: click.Context, key: str) -> None:
    """Every layer's value for one dotted KEY, and which one wins."""
    config = resolve_for(ctx)
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


@click.command()
@click.pass_context
@reports_errors
def check(ctx: click.Context) -> None:
    """Resolve and validate; exit 0, or 1 with every problem listed."""
    config = resolve_for(ctx)
    count = sum(1 for _ in config.entries())
    click.echo(f"ok: {count} settings for env {config.env!r} "
               f"(deployment file: {config.deployment_file or 'none'})")
