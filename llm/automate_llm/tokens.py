"""Counting tokens: exactly where a tokenizer for the model is at hand offline, an estimate otherwise.

Exact (Hugging Face ``tokenizers``, no network):

- a model named in ``settings.llm_tokenizers`` (``{"my-model": "/path/to/tokenizer.json"}``): any model
  whose ``tokenizer.json`` the operator has (what vLLM, Ollama or LM Studio serve);
- the Llama 2 family (``llama-2-*``, ``llama2*``) through the Llama 2 tokenizer the ``wordllama`` wheel
  ships (installed with the ``rag`` extra).

Estimated, for everything else, including OpenAI's and Anthropic's models: OpenAI's ``o200k``/``cl100k``
files are downloaded at run time by tiktoken (never here) and Anthropic publishes no tokenizer. The
estimate splits the text as the GPT tokenizers pre-split it (letters, digit groups of three, punctuation,
whitespace) and counts a word of up to eight letters as one token, longer ones a token per six letters, a
group of digits as one, a punctuation run a token per two characters, each non-ASCII character as one,
a run of several whitespace characters as one. It matches ``cl100k``'s counts on the few English samples
checked by hand (``"Hello, world!"`` 4, the quick-brown-fox pangram 10); it was not measured on a corpus
(no OpenAI tokenizer can be loaded offline here to compare with).
"""

from __future__ import annotations

import importlib.util
import math
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from automate.errors import UsageError

__all__ = ["MESSAGE_OVERHEAD", "count_message_tokens", "count_tokens", "estimate_tokens", "is_exact",
           "tokenizer_path"]

MESSAGE_OVERHEAD = 4  # tokens a chat message costs besides its text (role, separators), as OpenAI counts
MAX_TEXT = 10_000_000  # characters count_tokens accepts

_PIECE = re.compile(r" ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d\x80-\U0010ffff]+|[\x80-\U0010ffff]|\s+")
_LLAMA2 = re.compile(r"^(?:.*[/.:])?llama-?2(?:[-_:.].*)?$", re.IGNORECASE)
_tokenizers: dict[Path, Any] = {}
_lock = threading.Lock()


def estimate_tokens(text: str) -> int:
    """The documented estimate (see the module's docstring); 0 for an empty text."""
    count = 0
    for match in _PIECE.finditer(text):
        piece = match.group().strip() or match.group()
        if piece.isspace():
            count += 1 if len(piece) > 1 else 0
        elif piece.isalpha() and piece.isascii():
            count += 1 if len(piece) <= 8 else math.ceil(len(piece) / 6)
        elif piece.isdigit() and piece.isascii():
            count += 1  # up to three digits
        else:
            count += len(piece) if not piece.isascii() else max(1, math.ceil(len(piece) / 2))
    return count


def tokenizer_path(model: str | None, overrides: Mapping[str, str] | None = None) -> Path | None:
    """The ``tokenizer.json`` that counts ``model`` exactly, if there is one on this machine."""
    if not model:
        return None
    if overrides and model in overrides:
        return Path(overrides[model])
    if _LLAMA2.match(model):
        spec = importlib.util.find_spec("wordllama")
        if spec is not None and spec.origin:
            found = Path(spec.origin).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
            return found if found.is_file() else None
    return None


def _tokenizer(path: Path) -> Any:
    with _lock:
        if path not in _tokenizers:
            from tokenizers import Tokenizer

            try:
                _tokenizers[path] = Tokenizer.from_file(str(path))
            except Exception as exc:  # the library raises a bare Exception for a missing or bad file
                raise UsageError(f"no usable tokenizer at {path} ({type(exc).__name__})") from None
        return _tokenizers[path]


def is_exact(model: str | None, overrides: Mapping[str, str] | None = None) -> bool:
    """Whether :func:`count_tokens` counts ``model`` exactly (else it estimates)."""
    return tokenizer_path(model, overrides) is not None


def count_tokens(text: str, model: str | None = None, *,
                 tokenizers: Mapping[str, str] | None = None) -> int:
    """How many tokens ``text`` is for ``model``: exact when a tokenizer for it is usable offline, else
    the estimate (see the module's docstring).

    Args:
        text: The text.
        model: The model it is for; None: the estimate.
        tokenizers: Model name -> ``tokenizer.json`` path; None: ``settings.llm_tokenizers``.

    Raises:
        UsageError: ``text`` is not a string or is longer than 10 million characters.
    """
    if not isinstance(text, str):
        raise UsageError("count_tokens counts a string")
    if len(text) > MAX_TEXT:
        raise UsageError(f"count_tokens counts at most {MAX_TEXT} characters")
    if tokenizers is None and model:
        from automate.config import get_settings

        tokenizers = dict(get_settings().llm_tokenizers)
    path = tokenizer_path(model, tokenizers)
    if path is None:
        return estimate_tokens(text)
    return len(_tokenizer(path).encode(text, add_special_tokens=False).ids)


def count_message_tokens(contents: Iterable[str], model: str | None = None, *,
                         tokenizers: Mapping[str, str] | None = None) -> int:
    """The prompt's tokens: each message's text and its overhead, and the answer's priming."""
    return sum(count_tokens(text, model, tokenizers=tokenizers) + MESSAGE_OVERHEAD for text in contents) + 3
