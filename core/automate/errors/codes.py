"""The stable error codes: every error's ``code`` is one of them, or of a family named here."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RETRYABLE_CODES", "ErrorCodes", "http_status_code"]


class ErrorCodes(StrEnum):
    """Every stable error code. Two families add codes of their own: ``http.<status>`` (an HTTP step got
    that status, see :func:`http_status_code`) and the codes a workflow's ``core.fail`` step chooses."""

    INTERNAL = "internal"
    USAGE = "usage"
    CONFIGURATION = "configuration"
    MIGRATION = "migration"
    # services
    SERVICE = "service"
    DATABASE = "database"
    KAFKA = "kafka"
    KAFKA_TOPIC = "kafka.topic"
    KAFKA_DELIVERY = "kafka.delivery"
    KAFKA_RECORD_TOO_LARGE = "kafka.record_too_large"  # a producer or the broker refused a record: its size
    KAFKA_AUTH = "kafka.auth"  # credentials refused, or an operation an ACL does not allow
    REGISTRY = "registry"
    CONNECT = "connect"
    CONNECT_CONFIG_PROVIDER = "connect.config_provider"  # no config provider to keep the DB password out
    CONNECT_NOT_OURS = "connect.not_ours"  # a connector of our name is another installation's
    CONNECT_BEHIND = "connect.behind"  # Debezium has not published what a switch to the relay would drop
    # emit_event and run_workflow
    EVENT = "event"
    EVENT_INVALID_TYPE = "event.invalid_type"
    EVENT_UNKNOWN_TYPE = "event.unknown_type"
    EVENT_PAYLOAD_NOT_SERIALIZABLE = "event.payload_not_serializable"
    EVENT_PAYLOAD_TOO_LARGE = "event.payload_too_large"
    EVENT_SCHEMA_VIOLATION = "event.schema_violation"
    EVENT_SCHEMA_NOT_REGISTERED = "event.schema_not_registered"
    EVENT_UNKNOWN_WORKFLOW = "event.unknown_workflow"
    EVENT_INVALID_ARGUMENT = "event.invalid_argument"  # dedupe_key, key or tenant: type, length, characters
    # models
    MODEL = "model"
    MODEL_DOES_NOT_EXIST = "model.does_not_exist"
    MODEL_MULTIPLE_OBJECTS_RETURNED = "model.multiple_objects_returned"
    MODEL_NO_LIVE_VERSION = "model.no_live_version"
    # records that cannot be read (dead-letter codes)
    RECORD_UNREADABLE = "record.unreadable"
    EVENT_HEADERS = "event.headers"
    EVENT_UNDECODABLE = "event.undecodable"
    EVENT_SCHEMA_UNKNOWN = "event.schema_unknown"
    REQUEST_UNDELIVERABLE = "request.undeliverable"
    AUTOMATION_UNKNOWN = "automation.unknown"
    EXECUTION_UNKNOWN = "execution.unknown"
    RETRY_HEADER_MISSING = "retry.header_missing"  # a retry-tier record without its due time or target
    RETRY_HEADERS_UNDECODABLE = "retry.headers_undecodable"  # its headers are not UTF-8
    RETRY_DUE_AT_INVALID = "retry.due_at_invalid"  # automate_due_at unreadable, or beyond its tier
    RETRY_TARGET_FORBIDDEN = "retry.target_forbidden"  # automate_target is no workflow topic of ours
    STEP_TASK_EARLY = "step_task.early"  # a step task before its recorded due time (a forged wake-up)
    STEP_TASK_UNEXPECTED = "step_task.unexpected"  # a step task its step's recorded state did not ask for
    # rules
    RULES_ERROR = "rules.error"
    RULES_INVALID_RULE = "rules.invalid_rule"
    RULES_UNKNOWN_OPERATOR = "rules.unknown_operator"
    RULES_INVALID_ARGUMENTS = "rules.invalid_arguments"
    RULES_NON_JSON_RULE = "rules.non_json_rule"
    RULES_TOO_COMPLEX = "rules.too_complex"
    RULES_EVALUATION_ERROR = "rules.evaluation_error"
    RULES_NAN = "rules.nan"
    RULES_INVALID_OPERAND = "rules.invalid_operand"
    RULES_THROWN = "rules.thrown"
    RULES_INVALID_DATA = "rules.invalid_data"
    RULES_OPERATOR_ERROR = "rules.operator_error"
    RULES_EVALUATION_DEPTH = "rules.evaluation_depth"
    RULES_LIMIT = "rules.limit"  # an evaluation built too large a value or did too much work
    # workflows and executions
    WORKFLOW_INVALID = "workflow.invalid"
    WORKFLOW_MISSING = "workflow.missing"
    WORKFLOW_TOPIC = "workflow.topic"
    WORKFLOW_SLUG_TAKEN = "workflow.slug_taken"  # the slug (and its topic) is another tenant's
    TENANT_MISMATCH = "tenant.mismatch"  # a file, request or task names another tenant than its own
    EXECUTION = "execution"
    EXECUTION_NOT_REPLAYABLE = "execution.not_replayable"
    EXECUTION_TIMEOUT = "execution.timeout"  # past its deadline: ended by its worker or by the sweeper
    EXECUTION_INTERNAL = "execution.internal"  # an unexpected error while advancing it (a bug, a bad write)
    EXECUTION_CONTEXT_INVALID = "execution.context_invalid"  # a context that is no storable JSON object
    EXECUTION_CANCELED = "canceled"
    # steps
    STEP = "step"
    STEP_FAILED = "step.failed"
    STEP_WAIT = "wait"  # not a failure: the attempt record of a step parked by core.wait
    TIMEOUT = "timeout"
    TEMPLATE = "template"
    TEMPLATE_LIMIT = "template.limit"  # a render went past a limit: size, numbers, work, nesting, time
    OUTPUT = "output"
    OUTPUT_NOT_JSON = "output.not_json"
    OUTPUT_TOO_LARGE = "output.too_large"
    OUTPUT_NOT_STORABLE = "output.not_storable"  # JSON Postgres refuses: a NUL character
    INPUT_INVALID = "input.invalid"
    ACTION_UNKNOWN = "action.unknown"
    ACTION_INTERNAL = "action.internal"
    # connectors: what normalize_error maps a client library's failures to
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_5XX = "upstream_5xx"
    NETWORK = "network"
    CONFIG_INVALID = "config.invalid"
    CONNECTOR_UNKNOWN = "connector.unknown"
    CONNECTION_UNKNOWN = "connection.unknown"
    # secrets
    SECRET = "secret"
    SECRET_NOT_FOUND = "secret.not_found"
    SECRET_ACCESS_DENIED = "secret.access_denied"
    SECRET_INVALID_REFERENCE = "secret.invalid_reference"
    HTTP_TIMEOUT = "http.timeout"
    HTTP_INVALID_URL = "http.invalid_url"
    HTTP_INVALID_INPUT = "http.invalid_input"
    HTTP_CONNECT = "http.connect"
    HTTP_FORBIDDEN_TARGET = "http.forbidden_target"
    HTTP_BAD_RESPONSE = "http.bad_response"
    HTTP_TOO_MANY_REDIRECTS = "http.too_many_redirects"
    HTTP_RESPONSE_TOO_LARGE = "http.response_too_large"
    # the local stack and the operator's checks
    LLM = "llm"
    LLM_PROVIDER_UNKNOWN = "llm.provider_unknown"
    LLM_MODEL_UNKNOWN = "llm.model_unknown"
    LLM_KEY_MISSING = "llm.key_missing"
    LLM_CONTEXT_EXCEEDED = "llm.context_exceeded"
    LLM_REQUEST_REFUSED = "llm.request_refused"
    LLM_UNAVAILABLE = "llm.unavailable"
    LLM_OUTPUT_INVALID = "llm.output_invalid"
    LLM_BUDGET_EXCEEDED = "llm.budget_exceeded"

    RAG = "rag"
    RAG_ENDPOINT_UNKNOWN = "rag.endpoint_unknown"
    RAG_ENDPOINT_INVALID = "rag.endpoint_invalid"
    RAG_DOCUMENT_INVALID = "rag.document_invalid"
    RAG_FILTER_INVALID = "rag.filter_invalid"
    RAG_DIMENSION_MISMATCH = "rag.dimension_mismatch"
    RAG_UNAVAILABLE = "rag.unavailable"

    STACK = "stack"
    STACK_MISSING_DEPENDENCY = "stack.missing_dependency"
    STACK_PORT_IN_USE = "stack.port_in_use"
    STACK_START_FAILED = "stack.start_failed"
    CHECK_FAILED = "check.failed"


RETRYABLE_CODES: frozenset[str] = frozenset({
    ErrorCodes.RATE_LIMITED, ErrorCodes.TIMEOUT, ErrorCodes.UPSTREAM_5XX, ErrorCodes.NETWORK})
"""The connector codes a failure may succeed after, when tried again (what normalize_error marks
retryable)."""


def http_status_code(status: int) -> str:
    """The code of an HTTP step that got ``status`` (``http.503``); ``retry_on: [http.5*]`` matches it."""
    return f"http.{status}"
