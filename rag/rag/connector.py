"""``rag``: retrieval as workflow steps, ``rag.query`` and ``rag.index``, for the step's tenant.

No connection: an endpoint names its embedder and store, with their credentials as secret references
(``automate rag create``). Errors are the retrieval errors (``rag.*`` codes): an unknown endpoint, a bad
filter or document fail the step for good; ``rag.unavailable`` is retried by the step's policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from automate.errors import ErrorCodes
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.errors import connector_error
from rag.api import MAX_QUERY, MAX_TOP_K
from rag.config import SLUG
from rag.documents import MAX_CONTENT, MAX_DOCUMENTS

__all__ = ["RagConnector"]

_ENDPOINT = {"type": "string", "pattern": SLUG.pattern, "description": "The endpoint's slug."}
_DOCUMENT = {
    "type": "object", "required": ["id", "content"], "additionalProperties": False,
    "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 200},
                   "content": {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT},
                   "metadata": {"type": "object", "maxProperties": 32}},
}
_RESULT = {"type": "object", "properties": {"id": {"type": "string"}, "content": {"type": "string"},
                                            "score": {"type": "number"}, "metadata": {"type": "object"}}}


class RagConnector(Connector):
    key = "rag"
    display_name = "Retrieval"
    config_schema: ClassVar[Mapping[str, Any]] = {"type": "object", "properties": {},
                                                  "additionalProperties": False}

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [
            ActionSpec(name="query", idempotent=True, description="The documents nearest to a query.",
                       input_schema={"type": "object", "required": ["endpoint", "query"],
                                     "additionalProperties": False,
                                     "properties": {"endpoint": _ENDPOINT,
                                                    "query": {"type": "string", "minLength": 1,
                                                              "maxLength": MAX_QUERY},
                                                    "top_k": {"type": "integer", "minimum": 1,
                                                              "maximum": MAX_TOP_K},
                                                    "filters": {"type": "object"}}},
                       output_schema={"type": "object", "properties": {
                           "results": {"type": "array", "items": _RESULT}}}),
            ActionSpec(name="index", idempotent=True, description="Index (or re-index) documents.",
                       input_schema={"type": "object", "required": ["endpoint", "documents"],
                                     "additionalProperties": False,
                                     "properties": {"endpoint": _ENDPOINT,
                                                    "documents": {"type": "array", "minItems": 1,
                                                                  "maxItems": MAX_DOCUMENTS,
                                                                  "items": _DOCUMENT}}},
                       output_schema={"type": "object", "properties": {"indexed": {"type": "integer"}}}),
        ]

    def execute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        from rag.api import index_documents, query

        if self.ctx is None:
            raise connector_error(ErrorCodes.INTERNAL, "rag actions run for a step")
        tenant, settings = self.ctx.tenant, self.ctx.settings
        if action == "query":
            results = query(input_data["endpoint"], input_data["query"],
                            top_k=int(input_data.get("top_k", 5)), filters=input_data.get("filters"),
                            tenant=tenant, settings=settings)
            return {"results": results}
        if action == "index":
            count = index_documents(input_data["endpoint"], input_data["documents"], tenant=tenant,
                                    settings=settings)
            return {"indexed": count}
        raise connector_error(ErrorCodes.INTERNAL, f"rag has no action {action!r}")
