"""The ``automate`` command."""

from __future__ import annotations

from automate.cli.main import cli, main

__all__ = ["cli", "main"]
