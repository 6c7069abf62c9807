"""count_tokens: exact through a tokenizer usable offline (Llama 2's, shipped in the wordllama wheel;
a configured tokenizer.json), the documented estimate otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from automate.errors import UsageError
from automate_llm import count_tokens
from automate_llm.tokens import estimate_tokens, is_exact, tokenizer_path


def test_the_estimate_is_close_to_gpt_tokenizers_on_prose() -> None:
    # cl100k counts: "Hello, world!" 4; the pangram 10
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("The quick brown fox jumps over the lazy dog.") == 10
    assert count_tokens("") == 0
    long_word = "internationalization"
    assert estimate_tokens(long_word) == 4


def test_llama_2_models_are_counted_exactly() -> None:
    pytest.importorskip("wordllama")
    assert is_exact("llama-2-7b-chat") and is_exact("meta.llama2-13b-chat-v1") and not is_exact("gpt-4o")
    # Llama 2's sentencepiece vocabulary: ['▁The', '▁quick', '▁brown', '▁fo', 'x', ...] = 12 pieces
    assert count_tokens("The quick brown fox jumps over the lazy dog.", model="llama-2-7b") == 12


def test_a_configured_tokenizer_file_counts_its_model(tmp_path: Path) -> None:
    pytest.importorskip("wordllama")
    llama = tokenizer_path("llama-2-7b")
    assert llama is not None
    copy = tmp_path / "tokenizer.json"
    copy.write_bytes(llama.read_bytes())
    assert count_tokens("Hello, world!", "my-model", tokenizers={"my-model": str(copy)}) == 4
    with pytest.raises(UsageError, match="no usable tokenizer"):
        count_tokens("x", "other", tokenizers={"other": str(tmp_path / "missing.json")})


def test_count_tokens_takes_text_only() -> None:
    with pytest.raises(UsageError):
        count_tokens(b"bytes")  # type: ignore[arg-type]
