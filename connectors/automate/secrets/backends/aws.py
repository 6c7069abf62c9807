"""``$aws:secret-id#field``: AWS Secrets Manager, through boto3 (a JSON secret's field with ``#field``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from automate.config import Settings
from automate.errors import SecretAccessDenied, SecretError, SecretNotFoundError
from automate.secrets.backends.vault import pick_field

if TYPE_CHECKING:
    from automate.secrets.references import Reference
    from automate.secrets.resolver import Reader

__all__ = ["AwsSecretsManager", "aws_client"]


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client of ``service`` with the settings' region and endpoint (boto3's own otherwise)."""
    import boto3

    kwargs: dict[str, Any] = {}
    if settings.aws_region:
        kwargs["region_name"] = settings.aws_region
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return boto3.client(service, **kwargs)


class AwsSecretsManager:
    def fetch(self, reference: Reference, *, tenant: str, reader: Reader | None, settings: Settings) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = aws_client("secretsmanager", settings).get_secret_value(SecretId=reference.name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise SecretNotFoundError(f"{reference.text}: no such secret in AWS Secrets Manager"
                                          ) from None
            if code in ("AccessDeniedException", "UnrecognizedClientException"):
                raise SecretAccessDenied(f"{reference.text}: AWS refused ({code})") from None
            raise SecretError(f"{reference.text}: AWS Secrets Manager failed ({code})",
                              retryable=True) from None
        except BotoCoreError as exc:
            raise SecretError(f"{reference.text}: AWS Secrets Manager unreachable ({type(exc).__name__})",
                              retryable=True) from None
        value = answer.get("SecretString")
        if value is None:
            raise SecretNotFoundError(f"{reference.text}: a binary secret; store text")
        if reference.field is None:
            return str(value)
        try:
            return pick_field(reference, json.loads(value))
        except ValueError:
            raise SecretNotFoundError(f"{reference.text}: the secret is not JSON, so it has no fields"
                                      ) from None
