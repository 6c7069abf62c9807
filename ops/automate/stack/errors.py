"""Errors of the local stack manager.

Tree::

    AutomateError
    └── StackError                 a service of the local stack cannot be prepared, started or stopped
        ├── MissingDependencyError a program the stack needs (java, mvn, postgres, prometheus) is absent
        ├── PortInUseError         a configured port is taken by a process that is not ours
        └── ServiceStartError      a service exited or never became ready (message has its log tail)
"""

from __future__ import annotations

from automate.errors import AutomateError

__all__ = ["MissingDependencyError", "PortInUseError", "ServiceStartError", "StackError"]


class StackError(AutomateError):
    """A service of the local stack cannot be prepared, started or stopped."""

    code = "stack"


class MissingDependencyError(StackError):
    """A program the stack needs is not installed; the message names the package to install."""

    code = "stack.missing_dependency"


class PortInUseError(StackError):
    """A configured port is taken by a process that is not part of this stack."""

    code = "stack.port_in_use"


class ServiceStartError(StackError):
    """A service exited during start or did not become ready in time."""

    code = "stack.start_failed"
