"""Extensions created unbound at import; ``create_app()`` binds them.

``celery`` is the Celery placeholder: tasks import it from here (never the Flask app), so there is no
import cycle, and using it before ``create_app()`` raises instead of falling back to a default broker.
"""

from configsvc.celery.placeholder import FlaskCelery

celery = FlaskCelery("app")
