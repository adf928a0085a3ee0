"""``provider: aws_iam`` — ElastiCache and MemoryDB IAM authentication tokens, signed here.

The token is a SigV4-presigned ``connect`` request for the cache (``https://<cache_name>/?Action=connect&
User=<user_id>``, plus ``ResourceType=ServerlessCache`` for a serverless cache), signed with botocore's
credential chain (environment, shared files, instance or task role) for the service ``elasticache``
(``memorydb`` with ``service: memorydb``), valid 15 minutes, without the scheme. The user's id is also
its name, and the connection must use TLS (``rediss://``). Extra ``configsvc[aws]`` installs botocore.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from configsvc.core.redaction import Secret
from configsvc.credentials.base import Credential, CredentialProvider, FetchFailed

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

TOKEN_SECONDS = 900


class AwsIamProvider(CredentialProvider):
    name = "aws_iam"
    required = ("user_id", "cache_name", "region")
    optional = ("serverless", "service")
    library = "botocore"
    extra = "aws"

    def __init__(self, setting: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        super().__init__(setting, options, environ)
        self.user_id = str(self.options["user_id"])
        self.cache_name = str(self.options["cache_name"])
        self.region = str(self.options["region"])
        self.serverless = str(self.options.get("serverless", False)).lower() in ("true", "1", "yes")
        self.service = str(self.options.get("service") or "elasticache")

    def describe(self) -> str:
        return f"provider aws_iam ({self.cache_name}, {self.region})"

    def fetch(self) -> Credential:
        import botocore.credentials
        import botocore.exceptions
        import botocore.session

        try:
            # The environment passed in first (the process's own, normally), then botocore's whole chain.
            credentials = (botocore.credentials.EnvProvider(environ=dict(self.environ)).load()
                           or botocore.session.get_session().get_credentials())
        except botocore.exceptions.BotoCoreError as error:
            raise FetchFailed(f"AWS credentials could not be read ({type(error).__name__})") from None
        if credentials is None:
            raise FetchFailed("botocore found no AWS credentials (environment, shared files, or a role)")
        received = datetime.now(UTC)
        token = self.token(credentials.get_frozen_credentials())
        return Credential(Secret(token), self.user_id, received + timedelta(seconds=TOKEN_SECONDS),
                          received)

    def token(self, credentials: ReadOnlyCredentials) -> str:
        """The signed token for ``credentials`` (botocore's), at botocore's current time."""
        from botocore.auth import SigV4QueryAuth
        from botocore.awsrequest import AWSRequest

        params = {"Action": "connect", "User": self.user_id}
        if self.serverless:
            params["ResourceType"] = "ServerlessCache"
        request = AWSRequest(method="GET", url=f"https://{self.cache_name}/", params=params)
        SigV4QueryAuth(credentials, self.service, self.region, expires=TOKEN_SECONDS).add_auth(request)
        url: str = request.url
        return url.removeprefix("https://")
