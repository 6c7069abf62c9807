"""Errors of the LLM calls (``automate_llm``) and of retrieval (``rag``)."""

from __future__ import annotations

from automate.errors.base import AutomateError
from automate.errors.codes import ErrorCodes

__all__ = [
    "LlmBudgetExceeded",
    "LlmContextExceeded",
    "LlmError",
    "LlmKeyMissing",
    "LlmOutputInvalid",
    "LlmRequestRefused",
    "LlmUnavailable",
    "RagDimensionMismatch",
    "RagDocumentInvalid",
    "RagEndpointInvalid",
    "RagEndpointNotFound",
    "RagError",
    "RagFilterInvalid",
    "RagUnavailable",
    "UnknownModel",
    "UnknownProvider",
]


class LlmError(AutomateError):
    """An LLM call failed. The message names the provider and model, never a key or a prompt."""

    code = ErrorCodes.LLM


class UnknownProvider(LlmError):
    """No provider of that name (``openai``, ``anthropic``, ``bedrock``)."""

    code = ErrorCodes.LLM_PROVIDER_UNKNOWN


class UnknownModel(LlmError):
    """The provider does not know the model (it answered 404, or no model was named or configured)."""

    code = ErrorCodes.LLM_MODEL_UNKNOWN


class LlmKeyMissing(LlmError):
    """No API key for the provider: none given, configured or in the provider's own variable, or the key
    was refused (401, 403)."""

    code = ErrorCodes.LLM_KEY_MISSING


class LlmContextExceeded(LlmError):
    """The prompt (with the room asked for the answer) does not fit the model's context window."""

    code = ErrorCodes.LLM_CONTEXT_EXCEEDED


class LlmRequestRefused(LlmError):
    """The provider refused the request as malformed (a 400 other than a context overflow)."""

    code = ErrorCodes.LLM_REQUEST_REFUSED


class LlmUnavailable(LlmError):
    """The provider kept answering 429 or 5xx, or not at all, through every retry (retryable;
    ``retry_after`` when it said)."""

    code = ErrorCodes.LLM_UNAVAILABLE
    retryable = True


class LlmOutputInvalid(LlmError):
    """The answer is not the JSON its schema asks for (malformed, or it violates the schema)."""

    code = ErrorCodes.LLM_OUTPUT_INVALID


class LlmBudgetExceeded(LlmError):
    """The automation has spent its LLM budget for the period; the step stops before the call."""

    code = ErrorCodes.LLM_BUDGET_EXCEEDED


class RagError(AutomateError):
    """A retrieval call failed; nothing was indexed or removed."""

    code = ErrorCodes.RAG


class RagEndpointNotFound(RagError):
    """No retrieval endpoint of that slug in the tenant (``query`` never creates one)."""

    code = ErrorCodes.RAG_ENDPOINT_UNKNOWN


class RagEndpointInvalid(RagError):
    """An endpoint's configuration cannot work: an unknown embedder or store, bad chunking."""

    code = ErrorCodes.RAG_ENDPOINT_INVALID


class RagDocumentInvalid(RagError):
    """A document without ``id`` or ``content``, or with metadata the stores cannot keep."""

    code = ErrorCodes.RAG_DOCUMENT_INVALID


class RagFilterInvalid(RagError):
    """A filter outside the one documented syntax, or one the store cannot express."""

    code = ErrorCodes.RAG_FILTER_INVALID


class RagDimensionMismatch(RagError):
    """The embedder's vectors have another dimension than the endpoint's index."""

    code = ErrorCodes.RAG_DIMENSION_MISMATCH


class RagUnavailable(RagError):
    """The embedder or the vector store is out of reach or failed (retryable)."""

    code = ErrorCodes.RAG_UNAVAILABLE
    retryable = True
