"""``configsvc schema``: the JSON Schema of the app's deployment file, for editors and CI checks."""

from __future__ import annotations

from pathlib import Path

import click

from configsvc.commands.inspect import target_of
from configsvc.commands.reporting import reports_errors


@click.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the schema to this file (replaced atomically) instead of printing it.")
@click.pass_context
@reports_errors
def schema(ctx: click.Context, out: Path | None) -> None:
    """The JSON Schema of the deployment file: the app's own keys (its settings model or schema), Flask's,
    the celery section from Celery's settings table, and credentials per provider."""
    from configsvc.commands.atomic import write_atomic
    from configsvc.typed.json_schema import deployment_schema, dumps

    target = target_of(ctx)
    text = dumps(deployment_schema(target.service.options))
    if out is None:
        click.echo(text, nl=False)
        return
    write_atomic(out, text.encode(), mode=0o644)
    click.echo(f"wrote the deployment file's schema to {out}", err=True)
