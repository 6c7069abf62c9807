"""Turning whatever a connector's client library raised into the project's error tree.

Every failure becomes a :class:`~automate.errors.ConnectorError` (or stays the AutomateError the connector
raised) with one of the connector codes, whose retry meaning the runtime's retry policy reads:

==================== ========= ==================================================
code                 retryable  meaning
==================== ========= ==================================================
``auth_failed``      no        the credentials were refused (HTTP 401)
``forbidden``        no        authenticated, not allowed (403)
``not_found``        no        the target does not exist (404)
``rate_limited``     yes       slow down; ``retry_after`` when the service said (429)
``timeout``          yes       no answer in time
``upstream_5xx``     yes       the service failed (5xx)
``input.invalid``    no        the action's input was refused (other 4xx, schema)
``config.invalid``   no        the connection's configuration was refused
``network``          yes       connection refused, reset, DNS
``internal``         no        anything else (a bug, here or there)
==================== ========= ==================================================
"""

from __future__ import annotations

import socket
import ssl

from automate.errors import RETRYABLE_CODES, AutomateError, ConnectorError, ErrorCodes, StepError

__all__ = ["as_step_error", "connector_error", "from_http_status", "normalize"]


def connector_error(code: str, message: str, *, retry_after: float | None = None) -> ConnectorError:
    """A ConnectorError whose retry meaning follows its code."""
    return ConnectorError(message, code=code, retryable=code in RETRYABLE_CODES, retry_after=retry_after)


def from_http_status(status: int, message: str, *, retry_after: float | None = None) -> ConnectorError:
    """The connector code of an HTTP status a service answered with."""
    code = {401: ErrorCodes.AUTH_FAILED, 403: ErrorCodes.FORBIDDEN, 404: ErrorCodes.NOT_FOUND,
            408: ErrorCodes.TIMEOUT, 429: ErrorCodes.RATE_LIMITED}.get(status)
    if code is None:
        code = ErrorCodes.UPSTREAM_5XX if status >= 500 else ErrorCodes.INPUT_INVALID
    return connector_error(code, message, retry_after=retry_after if code in RETRYABLE_CODES else None)


def normalize(exc: BaseException) -> AutomateError:
    """The default of ``Connector.normalize_error``: errors of the tree stay as they are, timeouts and
    network failures become retryable, anything else ``internal`` (named by its type only: a message
    of a client library may quote a credential)."""
    if isinstance(exc, AutomateError):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return connector_error(ErrorCodes.TIMEOUT, f"timed out ({type(exc).__name__})")
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return connector_error(ErrorCodes.CONFIG_INVALID, f"a file the connection names cannot be read "
                                                          f"({type(exc).__name__})")
    if isinstance(exc, ConnectionError | socket.gaierror | ssl.SSLError | OSError):
        return connector_error(ErrorCodes.NETWORK, f"network failure ({type(exc).__name__})")
    return connector_error(ErrorCodes.INTERNAL, f"{type(exc).__name__} in the connector")


def as_step_error(error: AutomateError) -> StepError:
    """What the runtime records and retries on: ``error`` itself when it is a StepError, else a StepError
    with its code and retry meaning."""
    if isinstance(error, StepError):
        return error
    retryable = error.retryable or error.code in RETRYABLE_CODES
    return StepError(error.message, code=error.code, retryable=retryable, retry_after=error.retry_after)
