"""Extensions created unbound at import; ``create_app()`` binds them.

Tasks import ``celery`` from here (never the Flask app), so there is no import cycle, and using it
before ``create_app()`` raises instead of falling back to a default broker.
"""

from app.settings import Settings
from configsvc.celery import FlaskCelery
from configsvc.flask import ConfigService

config = ConfigService(
    defaults="../settings/settings.yaml",                   # relative to app.root_path (this folder)
    settings=Settings,                                      # the app's own keys, typed (app/settings.py)
    example_files=["../secrets.example/api-config.yaml"],    # production refuses its secret_key
)
celery = FlaskCelery("app")
