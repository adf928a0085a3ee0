"""``show``, ``explain`` and ``check``: resolve the app's configuration exactly as the app does.

They find the app as ``flask`` does (see :mod:`configsvc.commands.discovery`) and resolve with its
``ConfigService`` options, from the process environment.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import warnings
from typing import TYPE_CHECKING, Any

import click

from configsvc.commands.reporting import note, reports_errors, warn
from configsvc.core.redaction import masked, reveal

if TYPE_CHECKING:  # the commands import what they need when they run: `configsvc --help` starts fast
    from configsvc.commands.discovery import Target
    from configsvc.core.config import Config

APP_OPTION = "configsvc_app"
VERBOSE_OPTION = "configsvc_verbose"


def target_of(ctx: click.Context) -> Target:
    """The app the command is for: ``configsvc --app``, or the app ``flask`` was told about."""
    from flask.cli import ScriptInfo

    from configsvc.commands.discovery import find_target

    info = ctx.find_object(ScriptInfo)
    if info is not None:  # flask configsvc ...
        return find_target(info.app_import_path, os.environ, info.create_app)
    return find_target(ctx.meta.get(APP_OPTION), os.environ)


def resolve_for(ctx: click.Context) -> Config:
    """Resolve the target app's configuration; warnings and notes go to stderr."""
    target = target_of(ctx)
    if target.note and ctx.meta.get(VERBOSE_OPTION):  # with --verbose: every command would say it
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
            "credentials_from": {f"celery.{setting}": {"source": source, "origin": origin}
                                 for setting, (source, origin) in _provided(entries).items()},
        }
        click.echo(json.dumps(document, indent=2, default=str))
        return
    provided = _provided(entries)
    rows = [(e.key, _text(display(e.value)), e.source, e.origin) for e in entries]
    rows += [(f"celery.{setting} (user, password)", "from the provider, in each process", source, origin)
             for setting, (source, origin) in provided.items()]
    click.echo(f"# env: {config.env}; deployment file: {config.deployment_file or '(none)'}")
    for line in table(rows, shutil.get_terminal_size((TABLE_WIDTH, 24)).columns):
        click.echo(line)


def _provided(entries: list[Any]) -> dict[str, tuple[str, str]]:
    """Each Celery URL setting whose user and password a provider gives: ``provider <name>`` and where
    the provider was named."""
    found = {}
    for entry in entries:
        parts = entry.key.split(".")
        if len(parts) == 3 and parts[0] == "credentials" and parts[2] == "provider":
            found[parts[1]] = (f"provider {entry.value}", entry.origin)
    return found


TABLE_WIDTH = 100  # when the output is not a terminal (and COLUMNS is unset)
_KEY_WIDTH_LIMIT = 32
_WHERE_INDENT = "    "


def table(rows: list[tuple[str, str, str, str]], width: int) -> list[str]:
    """``show``'s table: KEY, VALUE, SOURCE, WHERE on one line each when that fits ``width``; else the key
    and its value (wrapped to the space left), then the source and where it was set on a line below."""
    header = ("KEY", "VALUE", "SOURCE", "WHERE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    if sum(widths) + 6 <= width:
        return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                for row in [header, *rows]]
    key_width = min(widths[0], _KEY_WIDTH_LIMIT, width // 2)
    value_width = max(16, width - key_width - 2)
    lines = [f"{'KEY'.ljust(key_width)}  VALUE", f"{_WHERE_INDENT}from SOURCE, at WHERE"]
    for key, value, source, where in rows:
        if len(key) > key_width:  # a long key on a line (or more) of its own
            lines += textwrap.wrap(key, max(20, width), break_long_words=True, break_on_hyphens=False)
            key = ""
        wrapped = textwrap.wrap(value, value_width, break_long_words=True, break_on_hyphens=False) or [""]
        lines.append(f"{key.ljust(key_width)}  {wrapped[0]}".rstrip())
        lines += [f"{' ' * key_width}  {part}" for part in wrapped[1:]]
        lines += textwrap.wrap(f"from {source}, at {where}", max(20, width), initial_indent=_WHERE_INDENT,
                               subsequent_indent=_WHERE_INDENT * 2, break_long_words=True,
                               break_on_hyphens=False)
    return lines


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
    parts = explanation.key.split(".")
    if len(parts) == 2 and parts[0] == "celery":
        provided = _provided(list(config.entries())).get(parts[1])
        if provided is not None:
            click.echo(f"  user and password: {provided[0]}, in each process  [{provided[1]}]")


@click.command()
@click.option("--connect", is_flag=True,
              help="Also open the broker's and the result backend's connections with the resolved "
                   "credentials, once each.")
@click.pass_context
@reports_errors
def check(ctx: click.Context, connect: bool) -> None:
    """Resolve and validate, and ask each credential provider once (as every process will at start);
    exit 0, or 1 with every problem listed. With --connect, also connect to the broker and the result
    backend: one line each, naming the server's reason for a refusal."""
    from configsvc.credentials.provided import ProvidedCredentials
    from configsvc.credentials.refresh import iso

    config = resolve_for(ctx)
    provided = ProvidedCredentials.from_config(config, os.environ)
    count = sum(1 for _ in config.entries())
    click.echo(f"ok: {count} settings for env {config.env!r} "
               f"(deployment file: {config.deployment_file or 'none'})")
    if provided is not None:
        for managed in provided:
            until = iso(managed.expires_at)
            click.echo(f"ok: credentials.{managed.setting} from {managed.provider.describe()}"
                       + (f", valid until {until}" if until else ", with no expiry"))
    if not connect:
        if provided is not None:
            provided.close()
        return
    from configsvc.commands.connect import connect_all

    outcomes = connect_all(config, provided)  # closes the credentials with its app
    for outcome in outcomes:
        click.echo(outcome.line, err=not outcome.ok)
    if not all(outcome.ok for outcome in outcomes):
        sys.exit(1)
