"""How commands report: problems as ``error:`` lines and exit status 1, never a traceback or a value."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from configsvc.errors import ConfigError, ConfigWarning

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn configuration errors into plain messages on stderr and exit status 1; configsvc's warnings
    raised while the command ran (a file written in place) become ``warning:`` lines."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            try:
                return command(*args, **kwargs)
            except ConfigError as error:
                for message in error.warnings:
                    warn(message)
                click.echo(f"error: {error}", err=True)
                sys.exit(1)
            except BrokenPipeError:  # the reader went away (configsvc show | head): nothing to say
                sys.stderr.close()
                sys.exit(1)
            except OSError as error:  # a file the command could not read or write: its name, no value
                where = f"{error.filename}: " if error.filename else ""
                click.echo(f"error: {where}{(error.strerror or type(error).__name__).lower()}", err=True)
                sys.exit(1)
            finally:
                for record in caught:
                    if issubclass(record.category, ConfigWarning):
                        warn(str(record.message))

    return wrapper  # type: ignore[return-value]


def warn(message: str) -> None:
    """One ``warning:`` line on stderr."""
    click.echo(f"warning: {message}", err=True)


def note(message: str) -> None:
    """One ``note:`` line on stderr."""
    click.echo(f"note: {message}", err=True)
