"""The exception root of the producer library and the shared core.

Tree::

    AutomateError                 every error this project raises on purpose (``code``, ``retryable``)
    ├── ConfigurationError        settings that cannot work (bad URL, missing file)
    └── MigrationError            a migration failed or the schema is newer than this code
"""

from __future__ import annotations

__all__ = ["AutomateError", "ConfigurationError", "MigrationError"]


class AutomateError(Exception):
    """Root of every error Automate raises on purpose.

    Attributes:
        code: A stable, machine-readable error code.
        retryable: Whether trying the same thing again may succeed.
    """

    code: str = "internal"
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class ConfigurationError(AutomateError):
    """Settings that cannot work; the message names the setting and the fix."""

    code = "configuration"


class MigrationError(AutomateError):
    """A migration could not be applied; nothing of it was kept."""

    code = "migration"
