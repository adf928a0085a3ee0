"""Entry point for workers: ``celery -A worker_entry.celery worker`` (and ``beat``)."""

import sys

from app import create_app
from configsvc import ConfigError

try:
    flask_app = create_app()
except ConfigError as error:  # a clear message and exit 1, not a traceback from Celery's app loader
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(1) from None

celery = flask_app.extensions["celery"]
