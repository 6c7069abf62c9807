"""What every command shares: the console, the one-line failure, the settings."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from rich.console import Console

from automate.config import Settings

__all__ = ["console", "fail", "settings_of", "setup_logging"]

console = Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Exit non-zero with a one-line reason (further lines only for details such as a log tail)."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(1)


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None
    return settings




def setup_logging(level: str = "INFO") -> None:
    """Logging for long-running workers, to stderr: Automate's loggers at ``level`` (AUTOMATE_LOG_LEVEL),
    every other library's from WARNING up only (httpx's request lines hold full URLs, which may carry
    tokens; other clients' debug lines hold headers)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("automate").setLevel(level)
