"""The workflow runtime: definitions, the step engine, retries and dead letters."""

from __future__ import annotations

from automate.runtime.inline import Runtime

__all__ = ["Runtime"]
