"""``python -m app [--host HOST] [--debug]``: serve the app on the configured ``port`` (development server).

The Werkzeug debugger (which runs code from the browser) is on only with ``--debug``, never by the
configuration's ``debug`` setting, and never on an address other than loopback. In production run
gunicorn instead: ``gunicorn -w 4 -b 0.0.0.0:8080 'app:create_app()'``.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from app import create_app
from configsvc import ConfigError


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--debug", action="store_true",
                        help="the Werkzeug debugger and reloader (loopback addresses only)")
    args = parser.parse_args(argv)
    if args.debug and not is_loopback(args.host):
        print(f"error: --debug runs the Werkzeug debugger, which executes code sent from a browser; it is "
              f"refused on {args.host} (use --host 127.0.0.1)", file=sys.stderr)
        return 2
    try:
        flask_app = create_app()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    port = int(flask_app.config.get("PORT") or 5000)
    flask_app.run(host=args.host, port=port, debug=args.debug, use_debugger=args.debug,
                  use_reloader=args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
