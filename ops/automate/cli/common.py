"""What every command shares: the console, the one-line failure, the settings."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click
from rich.console import Console

from automate.config import Settings
from automate.redact import mask_secrets_in

__all__ = ["METRICS_PORT", "console", "fail", "settings_of", "setup_logging"]

METRICS_PORT = click.option("--metrics-port", default=0, show_default=True, help="Port of this worker's "
                            "/metrics on 127.0.0.1 (0: a free port, announced to the local Prometheus).")

console = Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Exit non-zero with a one-line reason (further lines only for details such as a log tail); a
    password in it (a URL's, ``password=``) is masked."""
    console.print(f"[bold red]error:[/] {mask_secrets_in(message)}", soft_wrap=True)
    sys.exit(1)


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None
    return settings




def setup_logging(level: str = "INFO") -> None:
    """Logging for long-running workers, to stderr: Automate's loggers at ``level`` (AUTOMATE_LOG_LEVEL),
    every other library's from WARNING up only (httpx's request lines hold full URLs, which may carry
    tokens; other clients' debug lines hold headers)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:  # a URL's password never reaches a log line
        if not isinstance(handler.formatter, _MaskingFormatter):
            handler.setFormatter(_MaskingFormatter(handler.formatter))
    logging.getLogger("automate").setLevel(level)


class _MaskingFormatter(logging.Formatter):
    """The handler's own formatting, then every URL's or ``password=`` pair's password masked."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets_in(self._inner.format(record))
