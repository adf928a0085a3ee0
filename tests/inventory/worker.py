"""``celery -A tests.inventory.worker.celery worker``."""

from tests.inventory import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
