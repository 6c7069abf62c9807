"""Passwords out of what people read: the one place that masks a URL's or a DSN's password before it is
printed, logged or put in an error message (``automate status``, ``automate up``, the stack's errors).

Two forms carry a password: a URL's user-info (``postgresql://app:secret@db/app``, also ``http://u:p@host``)
and libpq's keyword form or a URL's query (``password=secret``). Both are replaced by ``***``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MASK", "mask_secrets_in", "mask_url"]

MASK: Final = "***"

# scheme://user:password@ — the password runs to the last '@' before a '/' or whitespace (an unescaped
# '@' in a password is read as libpq reads it: the host starts after the last one).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:@/?#]*):(?P<password>[^\s/]*)@")
# password=... as a keyword (quoted or bare) or a query parameter, and the other names secrets go by.
_KEYWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|sasl\.password|ssl\.key\.password)\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|[^\s&;,]+)",
    re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``; the user, host, port and path stay.

    Works on any URL and on libpq's ``key=value`` connection strings:
    ``mask_url("postgresql://app:s3cret@db:5432/app")`` is ``"postgresql://app:***@db:5432/app"``.
    """
    return mask_secrets_in(url)


def mask_secrets_in(text: str) -> str:
    """``text`` (a message, a log line, an error) with the password of every URL or ``password=`` pair in
    it replaced by ``***``."""
    masked = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", masked)
