"""What a document may be: checked, all of a call's documents, before anything is embedded or written.

A document is ``{"id": str, "content": str, "metadata": {...}}``; metadata values are what every store
can keep and filter on: strings, finite numbers, booleans, lists of strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automate.errors import RagDocumentInvalid

__all__ = ["MAX_CONTENT", "MAX_DOCUMENTS", "MAX_INT", "METADATA_KEY", "Document", "check_documents",
           "check_metadata", "check_text"]

MAX_DOCUMENTS = 2_000  # per index_documents call
MAX_CONTENT = 1_000_000  # characters per document
MAX_ID = 200
MAX_METADATA_BYTES = 4_096  # a document's metadata as JSON
MAX_METADATA_KEYS = 32
MAX_STRING = 1_000
MAX_LIST = 64
MAX_INT = 2**53  # integers beyond lose precision as the stores' doubles
METADATA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Printable ASCII (Pinecone lists ids by an ASCII prefix), no '#' (it separates a chunk's number:
# '<doc id>#<n>'), not starting with a space.
_ID = re.compile(r"^[!-\"$-~][ -\"$-~]{0,199}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    id: str
    content: str
    metadata: Mapping[str, Any]


def check_text(text: str, what: str, error: type[Exception]) -> str:
    """``text`` if it encodes as UTF-8 (a lone surrogate such as ``"\\ud800"`` does not; every store and
    embedder would fail on it with an untyped error).

    Raises:
        error: It does not (the message names ``what``, never the text).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} is not valid Unicode text (a lone surrogate)") from None
    return text


def check_documents(documents: object) -> list[Document]:
    """The documents of one call, checked.

    Raises:
        RagDocumentInvalid: Not a list of 1-2,000 documents; a document without ``id`` or ``content``,
            with another field, an id twice, content too large, or metadata the stores cannot keep. The
            message names the document's position, never its content.
    """
    if isinstance(documents, (str, bytes, Mapping)) or not isinstance(documents, Sequence):
        raise RagDocumentInvalid("documents must be a list of {id, content, metadata} objects")
    if not 1 <= len(documents) <= MAX_DOCUMENTS:
        raise RagDocumentInvalid(f"give 1 to {MAX_DOCUMENTS} documents per call, not {len(documents)}")
    checked: list[Document] = []
    seen: set[str] = set()
    for at, doc in enumerate(documents):
        where = f"document {at}"
        if not isinstance(doc, Mapping):
            raise RagDocumentInvalid(f"{where} is not an object")
        extra = set(doc) - {"id", "content", "metadata"}
        if extra:
            raise RagDocumentInvalid(f"{where} has fields other than id, content, metadata: "
                                     f"{sorted(str(k)[:40] for k in extra)[:5]}")
        ident = doc.get("id")
        if not isinstance(ident, str) or not _ID.fullmatch(ident) or not ident.strip():
            raise RagDocumentInvalid(f"{where} needs an id: 1-{MAX_ID} printable ASCII characters, no '#'")
        if ident in seen:
            raise RagDocumentInvalid(f"{where}: id {ident!r} appears twice in the call")
        seen.add(ident)
        content = doc.get("content")
        if not isinstance(content, str) or not content.strip():
            raise RagDocumentInvalid(f"{where} ({ident!r}) needs content: a non-blank string")
        if len(content) > MAX_CONTENT:
            raise RagDocumentInvalid(f"{where} ({ident!r}): content over {MAX_CONTENT} characters")
        check_text(content, f"{where} ({ident!r}): content", RagDocumentInvalid)
        metadata = check_metadata(doc.get("metadata"), f"{where} ({ident!r})")
        checked.append(Document(id=ident, content=content, metadata=metadata))
    return checked


def check_metadata(metadata: object, where: str) -> dict[str, Any]:
    """``metadata`` if every store can keep it (None: no metadata)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise RagDocumentInvalid(f"{where}: metadata must be an object")
    if len(metadata) > MAX_METADATA_KEYS:
        raise RagDocumentInvalid(f"{where}: more than {MAX_METADATA_KEYS} metadata keys")
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
            raise RagDocumentInvalid(f"{where}: metadata key {str(key)[:40]!r} is not 1-64 of letters, "
                                     "digits, '_' starting with a letter")
        out[key] = _value(value, f"{where}: metadata {key!r}")
    if len(json.dumps(out, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise RagDocumentInvalid(f"{where}: metadata over {MAX_METADATA_BYTES} bytes as JSON")
    return out


def _value(value: object, where: str) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise RagDocumentInvalid(f"{where}: integers beyond ±2^53 lose precision in the stores")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RagDocumentInvalid(f"{where}: numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise RagDocumentInvalid(f"{where}: strings are at most {MAX_STRING} characters")
        return check_text(value, where, RagDocumentInvalid)
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST or not all(isinstance(v, str) and len(v) <= MAX_STRING for v in value):
            raise RagDocumentInvalid(f"{where}: lists hold at most {MAX_LIST} strings")
        return [check_text(v, where, RagDocumentInvalid) for v in value]
    raise RagDocumentInvalid(f"{where}: values are strings, numbers, booleans or lists of strings, not "
                             f"{type(value).__name__}")
