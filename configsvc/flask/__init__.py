"""configsvc for Flask: the ``ConfigService`` extension, its per-app state and a health view.

```python
from configsvc.flask import ConfigService

config = ConfigService(env_prefix="APP_", schema={"port": int})

def create_app():
    app = Flask(__name__)
    config.init_app(app)
    return app
```
"""

from configsvc.flask.extension import ConfigService
from configsvc.flask.health import health
from configsvc.flask.state import ConfigState, Decision, ReloadParticipant, find_state

__all__ = ["ConfigService", "ConfigState", "Decision", "ReloadParticipant", "find_state", "health"]
