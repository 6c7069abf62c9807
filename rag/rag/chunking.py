"""Splitting a document into chunks of at most ``size`` characters that overlap by ``overlap``.

A cut prefers a paragraph break, then a sentence's end, then a space, in the second half of the window,
so that chunks rarely split a word; text without any of them is cut at ``size``. Every character of the
document is in some chunk (the overlap only repeats text).
"""

from __future__ import annotations

from automate.errors import RagEndpointInvalid

__all__ = ["chunk_text"]

_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """The chunks of ``text`` (stripped of surrounding whitespace; none for blank text).

    Args:
        text: The document's content.
        size: The most characters a chunk has (> 0).
        overlap: Characters a chunk repeats from the end of the one before (0 <= overlap < size).
    """
    if size <= 0 or not 0 <= overlap < size:
        raise RagEndpointInvalid("chunk size must be positive and the overlap smaller than it")
    text = text.strip()
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _break_before(text, start + max(1, size // 2), end)
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        start = _word_start(text, max(end - overlap, start + 1), end)
    return chunks


def _break_before(text: str, low: int, high: int) -> int:
    """The end of the latest break in text[low:high] (a paragraph's first), else ``high``."""
    for mark in _BREAKS:
        at = text.rfind(mark, low, high)
        if at != -1:
            return at + len(mark)
    return high


def _word_start(text: str, start: int, end: int) -> int:
    """``start`` moved forward to the start of a word when it falls inside one (not past ``end``)."""
    if start == 0 or text[start - 1].isspace() or text[start].isspace():
        return start
    space = text.find(" ", start, end)
    return start if space == -1 else space + 1
