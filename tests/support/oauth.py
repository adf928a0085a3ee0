"""RabbitMQ with OAuth 2.0, as a deployment has it, started by the tests: a second RabbitMQ node of their
own (own node name, ports, data dir, cookie and config; ``rabbit_auth_backend_oauth2`` then internal)
and a token endpoint that hands out short-lived JWTs for the client credentials grant, signed with a
local RSA key the node trusts. The endpoint is Authlib's OAuth 2.0 server (RFC 9068 JWT access tokens)
in a Flask app served by werkzeug on a thread (or a process of its own) — the server side of the library
configsvc's ``oauth2`` provider is the client side of.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.processes import free_port, wait_for
from tests.support.rabbit_node import RabbitNode, rabbitmq_node

RESOURCE_SERVER = "rabbitmq"
KEY_ID = "configsvc-test-key"
# Resources (vhost/name) and, for topic exchanges, routing keys (vhost/exchange/routing key).
SCOPES = " ".join(f"{RESOURCE_SERVER}.{p}:{r}"
                  for p in ("configure", "read", "write") for r in ("*/*", "*/*/*"))


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def rabbitmq_oauth_node(base: Path, public_pem: bytes) -> Iterator[RabbitNode]:
    """Start a node that takes JWTs signed by the key of ``public_pem`` as passwords (and internal users
    second); stopped and removed afterwards."""
    pem = public_pem.decode().replace("\n", "\\n")
    advanced = (
        "[{rabbitmq_auth_backend_oauth2, [\n"
        f"  {{resource_server_id, <<\"{RESOURCE_SERVER}\">>}},\n"
        f"  {{key_config, [{{default_key, <<\"{KEY_ID}\">>}},\n"
        f"                 {{signing_keys, #{{<<\"{KEY_ID}\">> => {{pem, <<\"{pem}\">>}}}}}}]}}\n"
        "]}].\n")
    with rabbitmq_node(base, "oauth", plugins=["rabbitmq_auth_backend_oauth2"],
                       conf="auth_backends.1 = rabbit_auth_backend_oauth2\nauth_backends.2 = internal\n",
                       advanced=advanced) as node:
        yield node


class TokenEndpoint:
    """``POST /token`` (client credentials) → a JWT access token for RabbitMQ, ``lifetime`` seconds long,
    signed with this endpoint's RSA key; counts the tokens it issued."""

    def __init__(self, lifetime: int, client_id: str = "configsvc-worker",
                 client_secret: str = "configsvc-test-client-secret", separate_process: bool = False) -> None:
        self.lifetime = lifetime
        self.client_id, self.client_secret = client_id, client_secret
        self.key = _private_key()
        self.issued = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/token"
        self._server = None
        #: Served from a child process (``issued`` then stays 0 here).
        self.separate_process = separate_process
        self._child: multiprocessing.process.BaseProcess | None = None

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def _app(self):  # type: ignore[no-untyped-def]
        from authlib.integrations.flask_oauth2 import AuthorizationServer
        from authlib.oauth2.rfc6749 import ClientMixin, grants
        from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
        from flask import Flask
        from joserfc.jwk import RSAKey

        endpoint = self
        jwk = RSAKey.import_key(self.key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()),
                                parameters={"kid": KEY_ID, "alg": "RS256", "use": "sig"})

        class Client(ClientMixin):
            client_id = endpoint.client_id

            def get_client_id(self) -> str:
                return self.client_id

            def get_default_redirect_uri(self) -> None:
                return None

            def get_allowed_scope(self, scope: str) -> str:
                return scope or SCOPES

            def check_redirect_uri(self, redirect_uri: str) -> bool:
                return False

            def check_client_secret(self, client_secret: str) -> bool:
                return client_secret == endpoint.client_secret

            def check_endpoint_auth_method(self, method: str, endpoint_name: str) -> bool:
                return method in ("client_secret_basic", "client_secret_post")

            def check_response_type(self, response_type: str) -> bool:
                return False

            def check_grant_type(self, grant_type: str) -> bool:
                return grant_type == "client_credentials"

        class Generator(JWTBearerTokenGenerator):
            def get_jwks(self):  # type: ignore[no-untyped-def]
                return {"keys": [jwk.as_dict(private=True)]}

            def get_audiences(self, client, user, scope):  # type: ignore[no-untyped-def]
                return [RESOURCE_SERVER]

        app = Flask("configsvc-test-token-endpoint")
        server = AuthorizationServer(
            app, query_client=lambda cid: Client() if cid == endpoint.client_id else None,
            save_token=lambda token, request: None)
        server.register_grant(grants.ClientCredentialsGrant)
        generator = Generator(issuer="http://127.0.0.1/configsvc-test", alg="RS256",
                              expires_generator=lambda client, grant_type: endpoint.lifetime)
        server.register_token_generator("default", generator)

        @app.post("/token")
        def token():  # type: ignore[no-untyped-def]
            endpoint.issued += 1
            return server.create_token_response()

        return app

    def _make_server(self):  # type: ignore[no-untyped-def]
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: object) -> None:
                pass

        return make_server("127.0.0.1", self.port, self._app(), threaded=True, request_handler=Quiet)

    def __enter__(self) -> TokenEndpoint:
        if self.separate_process:  # a process of its own: its RSA signing takes nothing from the caller's
            self._child = multiprocessing.get_context("fork").Process(
                target=lambda: self._make_server().serve_forever(), daemon=True)
            self._child.start()
            wait_for(lambda: _accepts(self.port), 20, "the token endpoint to listen")
            return self
        self._server = self._make_server()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._child is not None:
            self._child.terminate()
            self._child.join(timeout=10)
        if self._server is not None:
            self._server.shutdown()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
