"""The ``configsvc`` command, and the same commands as ``flask configsvc`` on any app's CLI.

Commands that resolve (``show``, ``explain``, ``check``) find the app as ``flask`` does and resolve with
its ``ConfigService`` options; file commands need no app. Problems are printed one per line with exit
status 1, never a traceback.
"""

from __future__ import annotations

import click

from configsvc.commands.file_cli import decrypt, edit, encrypt, keygen, rotate_key, set_command
from configsvc.commands.fleet import fleet
from configsvc.commands.inspect import APP_OPTION, VERBOSE_OPTION, check, explain, show
from configsvc.commands.rollout import rollout
from configsvc.commands.schema import schema

COMMANDS = (show, explain, check, schema, fleet, rollout, keygen, encrypt, decrypt, set_command, rotate_key,
            edit)


@click.group()
@click.version_option(package_name="configsvc", prog_name="configsvc", message="%(prog)s %(version)s")
@click.option("--app", "app_import", metavar="IMPORT", envvar="FLASK_APP",
              help="The app whose options to use, as flask takes it: 'yourapp' or 'yourapp:create_app()' "
                   "(default: FLASK_APP, else wsgi.py, app.py or an app package here).")
@click.option("-v", "--verbose", is_flag=True,
              help="Also say how the app was found (or that none was, and the default options are used).")
@click.pass_context
def main(ctx: click.Context, app_import: str | None, verbose: bool) -> None:
    """Resolve, inspect and check an app's configuration; encrypt and edit deployment files."""
    ctx.meta[APP_OPTION] = app_import
    ctx.meta[VERBOSE_OPTION] = verbose


@click.group(name="configsvc")
def flask_group() -> None:
    """configsvc: resolve, inspect and check this app's configuration; encrypt and edit its files."""


for _command in COMMANDS:
    main.add_command(_command)
    flask_group.add_command(_command)
