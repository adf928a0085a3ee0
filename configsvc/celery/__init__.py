"""configsvc for Celery: the ``FlaskCelery`` placeholder, created unbound at import and bound late.

```python
from configsvc.celery import FlaskCelery

celery = FlaskCelery("yourapp")      # tasks import this, never the Flask app

def create_app():
    app = Flask(__name__)
    config.init_app(app)
    celery.init_app(app)             # broker, backend, settings; tasks run in the app context
    return app
```
"""

from configsvc.celery.auth import is_auth_failure
from configsvc.celery.placeholder import FlaskCelery
from configsvc.celery.task import AppContextTask

__all__ = ["AppContextTask", "FlaskCelery", "is_auth_failure"]
