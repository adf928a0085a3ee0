"""``provider: oauth2`` — OAuth 2.0 client credentials; the access token is the password.

For RabbitMQ's OAuth 2.0 plugin, Amazon MQ for RabbitMQ and CloudAMQP. Options: ``token_url``,
``client_id``, ``client_secret``, and optionally ``scope`` (a string or a list) and ``audience``. The
token's lifetime is the endpoint's ``expires_in``, else the JWT's ``exp`` claim.

Built on Authlib's requests client (extra ``configsvc[oauth2]``): Authlib is the maintained OAuth
library for Python with both halves (its server side runs this repository's test token endpoint), and
it does the client authentication and the error responses of RFC 6749 correctly, which a hand-made
POST would have to re-learn.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from configsvc.core.redaction import Secret
from configsvc.credentials.base import Credential, CredentialProvider, FetchFailed, expiry_from


class OAuth2Provider(CredentialProvider):
    name = "oauth2"
    required = ("token_url", "client_id", "client_secret")
    optional = ("scope", "audience", "ca_cert")
    library = "authlib"
    extra = "oauth2"

    def __init__(self, setting: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        super().__init__(setting, options, environ)
        self.token_url = str(self.options["token_url"])
        scope = self.options.get("scope")
        self.scope = " ".join(scope) if isinstance(scope, list | tuple) else scope

    def describe(self) -> str:
        return f"provider oauth2 ({self.token_url})"

    def fetch(self) -> Credential:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session
        from requests import RequestException

        extra: dict[str, Any] = {}
        if self.options.get("audience"):
            extra["audience"] = self.options["audience"]
        session = OAuth2Session(str(self.options["client_id"]), str(self.options["client_secret"]),
                                scope=self.scope)
        if self.options.get("ca_cert"):
            session.verify = str(self.options["ca_cert"])
        try:
            token = session.fetch_token(self.token_url, grant_type="client_credentials",
                                        timeout=self.timeout, **extra)
        except OAuthError as error:
            raise FetchFailed(f"{self.token_url} refused the client ({error.error})") from None
        except RequestException as error:
            raise FetchFailed(f"{self.token_url} could not be reached ({type(error).__name__})") from None
        except ValueError:
            raise FetchFailed(f"{self.token_url} answered with no token") from None
        finally:
            session.close()
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise FetchFailed(f"{self.token_url} answered with no access_token")
        expires_at = token.get("expires_at")  # Authlib's, from expires_in
        if expires_at is None:
            expires_at = _jwt_expiry(access)
        return Credential(Secret(access), None, expiry_from(expires_at, what=self.token_url))


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (read, not verified: the broker verifies it), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
