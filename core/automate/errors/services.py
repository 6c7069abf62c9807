"""Errors of settings, of the services the pipeline depends on, of the local stack and of the
operator's end-to-end checks."""

from __future__ import annotations

from automate.errors.base import AutomateError
from automate.errors.codes import ErrorCodes

__all__ = ["CheckFailed", "ConfigurationError", "ConnectError", "ConnectorNotOurs", "DatabaseError",
           "MigrationError", "MissingDependencyError", "PortInUseError", "PublisherBehind", "RegistryError",
           "ServiceError", "ServiceStartError", "StackError", "TransportError"]


class ConfigurationError(AutomateError):
    """Settings that cannot work; the message names the setting and the fix."""

    code = ErrorCodes.CONFIGURATION


class MigrationError(AutomateError):
    """A migration could not be applied; nothing of it was kept."""

    code = ErrorCodes.MIGRATION


# --- services ------------------------------------------------------------------------------------------


class ServiceError(AutomateError):
    """A service the pipeline depends on refused or could not be reached."""

    code = ErrorCodes.SERVICE


class DatabaseError(ServiceError):
    """PostgreSQL could not be reached or refused."""

    code = ErrorCodes.DATABASE


class TransportError(ServiceError):
    """Kafka could not be reached, a topic could not be created or a record could not be delivered."""

    code = ErrorCodes.KAFKA


class RegistryError(ServiceError):
    """The schema registry refused a schema or could not be reached."""

    code = ErrorCodes.REGISTRY


class ConnectError(ServiceError):
    """Kafka Connect refused or could not be reached."""

    code = ErrorCodes.CONNECT


class ConnectorNotOurs(ConnectError):
    """A connector of this installation's name reads another database or topic prefix: another
    installation's (or an operator's) connector, never updated or deleted here."""

    code = ErrorCodes.CONNECT_NOT_OURS


class PublisherBehind(ConnectError):
    """Switching to the relay would drop events Debezium has not published yet: its slot did not reach
    the position of the switch in time. Nothing was removed; run ``automate migrate`` again."""

    code = ErrorCodes.CONNECT_BEHIND


# --- the local stack and the operator's checks ---------------------------------------------------------


class StackError(AutomateError):
    """A service of the local stack cannot be prepared, started or stopped."""

    code = ErrorCodes.STACK


class MissingDependencyError(StackError):
    """A program the stack needs is not installed; the message names the package to install."""

    code = ErrorCodes.STACK_MISSING_DEPENDENCY


class PortInUseError(StackError):
    """A configured port is taken by a process that is not part of this stack."""

    code = ErrorCodes.STACK_PORT_IN_USE


class ServiceStartError(StackError):
    """A service exited during start or did not become ready in time."""

    code = ErrorCodes.STACK_START_FAILED


class CheckFailed(AutomateError):
    """An end-to-end check (``automate smoke``, ``demo``, ``bench``) did not get the result it needs;
    the message says what is missing and where the logs are."""

    code = ErrorCodes.CHECK_FAILED
