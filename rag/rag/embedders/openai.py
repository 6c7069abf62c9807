"""``openai``: embeddings through the openai SDK, from OpenAI or any compatible server (``base_url``:
vLLM, Ollama, LM Studio, a local peer).

The key is the endpoint's ``api_key`` reference, resolved when the embedder is made (kept five minutes:
``rag.embedders.KEY_TTL_S``), else the SDK's own ``OPENAI_API_KEY``, but only when the endpoint names no
``base_url`` (an endpoint with a ``base_url`` must name its key: the process's OpenAI key never goes to
another host). The SDK retries 429, 5xx and
timeouts itself (twice, honouring ``retry-after``); what still fails becomes ``RagUnavailable``. Errors
carry the status and the SDK's error type, never the SDK's message (a 401's message quotes the key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from automate.config import Settings
from automate.errors import RagEndpointInvalid, RagUnavailable
from rag.config import EmbedderConfig

__all__ = ["BATCH", "OpenAIEmbedder"]

BATCH = 256  # inputs per request
TIMEOUT_S = 30.0


class OpenAIEmbedder:
    """Embeds through ``client.embeddings.create``; the answer's dimension is checked against the
    endpoint's ``dimension`` when it names one."""

    def __init__(self, config: EmbedderConfig, *, tenant: str, settings: Settings) -> None:
        import openai

        from automate.secrets import Reader, resolve

        key = None
        if config.api_key:
            key = resolve(config.api_key, tenant=tenant, reader=Reader(connector="rag"), settings=settings)
        client = None
        with contextlib.suppress(openai.OpenAIError):  # no key: not chained, the message is ours
            client = openai.OpenAI(api_key=key, base_url=config.base_url, timeout=TIMEOUT_S, max_retries=2)
        if client is None:
            raise RagEndpointInvalid("the openai embedder has no API key: set the endpoint's api_key "
                                     "reference or OPENAI_API_KEY")
        self._client = client
        self._model = config.model or "text-embedding-3-small"
        self._dimension = config.dimension

    @property
    def dimension(self) -> int | None:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Any:
        from rag.embedders import check_vectors

        rows: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start:start + BATCH])
            answer = self._call(batch)
            try:  # the SDK does not validate answers (strict validation is off): a bad one is ours to catch
                ordered = sorted(answer.data, key=lambda item: int(item.index))
                got = [list(item.embedding) for item in ordered]
            except (AttributeError, TypeError, ValueError):
                raise RagUnavailable(f"openai embeddings ({self._model}) answered out of the API's "
                                     "shape") from None
            if len(got) != len(batch):
                raise RagUnavailable(f"openai embeddings answered {len(got)} vectors for {len(batch)} "
                                     "texts")
            rows.extend(got)
        return check_vectors(rows, len(texts), self._dimension, f"openai embeddings model {self._model}")

    def _call(self, batch: list[str]) -> Any:
        import openai

        # The SDK's exception is not chained to ours, not even as __context__: it can quote the key.
        failure: Exception
        try:
            return self._client.embeddings.create(model=self._model, input=batch, encoding_format="float")
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = f"openai embeddings ({self._model}) answered {status} ({type(exc).__name__})"
            retryable = status == 429 or status >= 500
            failure = (RagUnavailable(message, retry_after=_retry_after(exc)) if retryable
                       else RagEndpointInvalid(message))
        except (openai.APIResponseValidationError, ValueError) as exc:  # not the API's shape, not JSON
            failure = RagUnavailable(f"openai embeddings ({self._model}) answered out of the API's shape "
                                     f"({type(exc).__name__})")
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            failure = RagUnavailable(f"openai embeddings ({self._model}) out of reach ({type(exc).__name__})")
        raise failure


def _retry_after(exc: Any) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None
