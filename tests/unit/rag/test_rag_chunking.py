"""Chunking: bounded chunks that cover the whole text, overlap as asked, and rarely split a word."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automate.errors import RagEndpointInvalid
from rag.chunking import chunk_text


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("  To reset your password, go to Settings...  ", 1000, 100) == [
        "To reset your password, go to Settings..."]


def test_blank_text_has_no_chunk() -> None:
    assert chunk_text(" \n\t ", 100, 10) == []


def test_cuts_at_sentence_ends_and_overlaps() -> None:
    text = " ".join(f"Sentence number {i} says something." for i in range(40))
    chunks = chunk_text(text, 200, 50)
    assert len(chunks) > 5
    assert all(len(c) <= 200 for c in chunks)
    assert all(c.endswith(".") for c in chunks[:-1])  # cut after a sentence
    for before, after in pairwise(chunks):
        assert after.split()[0] in before  # the next chunk starts inside the previous one's tail


def test_text_without_breaks_is_cut_at_size() -> None:
    chunks = chunk_text("x" * 1050, 100, 0)
    assert [len(c) for c in chunks] == [100] * 10 + [50]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_parameters_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(RagEndpointInvalid):
        chunk_text("text", size, overlap)


@given(st.text(alphabet=st.sampled_from("ab .\n"), max_size=600), st.integers(16, 120), st.integers(0, 8))
def test_every_word_is_in_some_chunk_and_chunks_are_bounded(text: str, size: int, overlap: int) -> None:
    chunks = chunk_text(text, size, overlap)
    assert all(0 < len(c) <= size for c in chunks)
    joined = " ".join(chunks)
    for word in text.split():
        assert word.strip(".") in joined
