"""``python -m app [--host HOST]``: serve the app on the configured ``port`` (development server).

In production run gunicorn instead: ``gunicorn -w 4 -b 0.0.0.0:8080 'app:create_app()'``.
"""

from __future__ import annotations

import argparse
import sys

from app import create_app
from configsvc import ConfigError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m app")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args()
    try:
        flask_app = create_app()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    port = int(flask_app.config.get("PORT") or 5000)
    flask_app.run(host=args.host, port=port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
