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

from __future__ import annotations

from typing import TYPE_CHECKING

from configsvc.lazy import lazy_exports

if TYPE_CHECKING:
    from configsvc.celery.auth import is_auth_failure
    from configsvc.celery.placeholder import FlaskCelery
    from configsvc.celery.task import AppContextTask

__all__ = ["AppContextTask", "FlaskCelery", "is_auth_failure"]

# Imported when first used: a module of this package (the status proof ``configsvc fleet`` checks, the
# adapters) can be imported without importing Celery's app machinery.
_LAZY = {"AppContextTask": "configsvc.celery.task", "FlaskCelery": "configsvc.celery.placeholder",
         "is_auth_failure": "configsvc.celery.auth"}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
