"""``aws``: S3 objects, SQS messages and SNS notifications through boto3.

Connection: ``{"region": "eu-west-1", "access_key_id": "$secret:AWS_KEY_ID", "secret_access_key":
"$secret:AWS_SECRET"}``, or ``"use_default_credentials": true`` instead of the keys for boto3's own chain
(the workers' environment, profile, instance role: the deployment's identity, so an operator opts in
explicitly); ``endpoint_url`` points it elsewhere (LocalStack, moto).

Actions: ``aws.s3_put_object`` ``{bucket, key, body, content_type?}`` (idempotent: the same object again),
``aws.s3_get_object`` ``{bucket, key}`` (text bodies up to 1 MiB), ``aws.sqs_send_message`` ``{queue_url,
body, group_id?, delay_seconds?}`` (a FIFO queue dedupes on the step's idempotency key),
``aws.sns_publish`` ``{topic_arn, message, subject?}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from automate.errors import ErrorCodes
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.errors import connector_error, normalize

__all__ = ["AwsConnector"]

MAX_GET_BYTES = 1024 * 1024
_AUTH = {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId",
         "ExpiredToken", "AuthFailure"}
_FORBIDDEN = {"AccessDenied", "AccessDeniedException", "Forbidden", "AuthorizationError"}
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "ResourceNotFoundException", "NotFoundException",
              "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_THROTTLED = {"Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded",
              "TooManyRequestsException", "ProvisionedThroughputExceededException"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


_STRING = {"type": "string", "minLength": 1}


class AwsConnector(Connector):
    key = "aws"
    display_name = "Amazon Web Services"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "region": {"type": "string"},
            "endpoint_url": {"type": "string"},
            "access_key_id": {"type": "string", "x-secret": True},
            "secret_access_key": {"type": "string", "x-secret": True},
            "session_token": {"type": "string", "x-secret": True},
            "use_default_credentials": {"type": "boolean"},
        },
        "anyOf": [{"required": ["access_key_id", "secret_access_key"]},
                  {"required": ["use_default_credentials"],
                   "properties": {"use_default_credentials": {"const": True}}}],
        "minProperties": 1,
        "additionalProperties": False,
        "description": "Credentials: access_key_id and secret_access_key (secret references), or "
                       "use_default_credentials: true for boto3's chain",
    }

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [
            ActionSpec(name="s3_put_object", idempotent=True,
                       input_schema=_object(["bucket", "key", "body"], bucket=_STRING, key=_STRING,
                                            body={"type": "string"}, content_type={"type": "string"})),
            ActionSpec(name="s3_get_object", idempotent=True,
                       input_schema=_object(["bucket", "key"], bucket=_STRING, key=_STRING)),
            ActionSpec(name="sqs_send_message",
                       input_schema=_object(["queue_url", "body"], queue_url=_STRING, body={"type": "string"},
                                            group_id={"type": "string"},
                                            delay_seconds={"type": "integer", "minimum": 0, "maximum": 900})),
            ActionSpec(name="sns_publish",
                       input_schema=_object(["topic_arn", "message"], topic_arn=_STRING,
                                            message={"type": "string"}, subject={"type": "string"})),
        ]

    def _client(self, service: str) -> Any:
        import boto3

        kwargs: dict[str, Any] = {}
        if not self.config.get("use_default_credentials") and not (
                self.config.get("access_key_id") and self.config.get("secret_access_key")):
            raise connector_error(ErrorCodes.CONFIG_INVALID, "aws connection: give access_key_id and "
                                  "secret_access_key, or use_default_credentials: true")
        for option, name in (("region", "region_name"), ("endpoint_url", "endpoint_url"),
                             ("access_key_id", "aws_access_key_id"),
                             ("secret_access_key", "aws_secret_access_key"),
                             ("session_token", "aws_session_token")):
            if self.config.get(option):
                kwargs[name] = str(self.config[option])
        return boto3.client(service, **kwargs)

    def execute_action(self, action: str, data: dict[str, Any]) -> dict[str, Any]:
        if action == "s3_put_object":
            content_type = data.get("content_type", "text/plain; charset=utf-8")
            put = self._client("s3").put_object(Bucket=data["bucket"], Key=data["key"],
                                                 Body=data["body"].encode(), ContentType=content_type)
            return {"etag": str(put.get("ETag", "")).strip('"'), "version_id": put.get("VersionId")}
        if action == "s3_get_object":
            got = self._client("s3").get_object(Bucket=data["bucket"], Key=data["key"])
            body = got["Body"].read(MAX_GET_BYTES + 1)
            if len(body) > MAX_GET_BYTES:
                raise connector_error(ErrorCodes.INPUT_INVALID, f"s3 object is over {MAX_GET_BYTES} bytes")
            return {"body": body.decode("utf-8", errors="replace"), "content_type": got.get("ContentType"),
                    "etag": str(got.get("ETag", "")).strip('"')}
        if action == "sqs_send_message":
            message: dict[str, Any] = {"QueueUrl": data["queue_url"], "MessageBody": data["body"]}
            if data.get("group_id"):  # a FIFO queue: dedupe a retried step
                message["MessageGroupId"] = data["group_id"]
                if self.ctx is not None:
                    message["MessageDeduplicationId"] = self.ctx.idempotency_key[:128]
            if data.get("delay_seconds") is not None:
                message["DelaySeconds"] = int(data["delay_seconds"])
            sent = self._client("sqs").send_message(**message)
            return {"message_id": sent["MessageId"]}
        if action == "sns_publish":
            publish: dict[str, Any] = {"TopicArn": data["topic_arn"], "Message": data["message"]}
            if data.get("subject"):
                publish["Subject"] = data["subject"]
            return {"message_id": self._client("sns").publish(**publish)["MessageId"]}
        raise connector_error(ErrorCodes.INTERNAL, f"aws has no action {action!r}")

    def normalize_error(self, exc: Exception) -> Exception:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            message = f"aws answered {code or status}"
            if code in _AUTH:
                return connector_error(ErrorCodes.AUTH_FAILED, message)
            if code in _FORBIDDEN or status == 403:
                return connector_error(ErrorCodes.FORBIDDEN, message)
            if code in _NOT_FOUND or status == 404:
                return connector_error(ErrorCodes.NOT_FOUND, message)
            if code in _THROTTLED or status == 429:
                return connector_error(ErrorCodes.RATE_LIMITED, message)
            if status >= 500:
                return connector_error(ErrorCodes.UPSTREAM_5XX, message)
            return connector_error(ErrorCodes.INPUT_INVALID, message)
        if isinstance(exc, NoCredentialsError):
            return connector_error(ErrorCodes.CONFIG_INVALID,
                                   "no AWS credentials (in the connection or the environment)")
        if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
            return connector_error(ErrorCodes.TIMEOUT, f"aws timed out ({type(exc).__name__})")
        if isinstance(exc, EndpointConnectionError):
            return connector_error(ErrorCodes.NETWORK, "aws endpoint unreachable")
        return normalize(exc)
