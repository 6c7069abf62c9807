"""Every error Automate raises, in one tree under :class:`AutomateError`.

Retry meaning lives on the error, as in Temporal's ApplicationError: a stable ``code`` (one of
:class:`ErrorCodes`, or a code of a family named there), ``retryable`` (may the same thing succeed if
tried again) and, where the other side said so, ``retry_after`` (seconds). The classes live in this
package's modules by what they are about (``data``: what comes in; ``rules``; ``workflows``: definitions,
executions, steps; ``secrets``; ``services``: settings, services, the local stack); import them from here. The
packages re-export the errors their callers catch (``automate.events.EventError``,
``automate.rules.RuleError``...).

Tree (a test holds it equal to the classes)::

    AutomateError                     the root: code, message, retryable, retry_after
    ├── UsageError                    an API called in a way it does not allow (TypeError, ValueError)
    ├── ConfigurationError            settings that cannot work (a bad URL, a missing file)
    ├── MigrationError                a migration failed, or the database is newer than this code
    ├── ServiceError                  a service refused or is out of reach (retryable if it may return)
    │   ├── DatabaseError             PostgreSQL
    │   ├── TransportError            Kafka: unreachable, a topic not created, a record not delivered
    │   ├── RegistryError             the schema registry
    │   └── ConnectError              Kafka Connect
    │       ├── ConnectorNotOurs      a connector of this installation's name is another's
    │       └── PublisherBehind       a switch to the relay would drop events Debezium owes
    ├── EventError                    an event or workflow request was refused; nothing was written
    │   ├── InvalidEventType          empty type, or characters outside [A-Za-z0-9._-]
    │   ├── UnknownEventType          no contract for the type while strict_event_types is on
    │   ├── PayloadNotSerializable    the payload is not a JSON document (.path)
    │   ├── PayloadTooLarge           the event or its context is above max_payload_bytes (.size, .limit)
    │   ├── SchemaViolation           the payload does not match its contract (.field)
    │   ├── SchemaNotRegistered       the contract's schema id is not cached: run `automate migrate`
    │   └── UnknownWorkflow           run_workflow named no live workflow of the tenant
    ├── ModelError                    a model lookup or write was refused
    │   ├── DoesNotExist              get() matched no row (each model has its own subclass)
    │   ├── MultipleObjectsReturned   get() matched more than one row (per model too)
    │   └── NoLiveVersion             an execution of an automation without a live workflow
    ├── RecordError                   a Kafka record that cannot be read (poison: dead-lettered)
    ├── RuleError                     the rules engine (.path, .type); never retryable
    │   ├── RuleValidationError       the rule is malformed; raised by compile_rule
    │   │   ├── UnknownOperatorError  "Unknown Operator"
    │   │   ├── InvalidArgumentsError "Invalid Arguments"
    │   │   ├── NonJsonRuleError      "Invalid Rule": a value JSON cannot represent
    │   │   └── RuleTooComplexError   "Exceeded Allowed Depth": too deep or too many nodes
    │   └── RuleEvaluationError       evaluating a valid rule against a context failed
    │       ├── NaNError              "NaN"
    │       ├── InvalidOperandError   "Invalid Arguments": an operand of the wrong type
    │       ├── ThrownError           the rule's own {"throw": ...}
    │       ├── InvalidDataError      "Invalid Data": the context holds a non-JSON value
    │       ├── OperatorError         "Operator Error": a custom operator raised
    │       ├── EvaluationDepthError  "Exceeded Allowed Depth": data or nesting too deep
    │       └── RuleLimitError        "Exceeded Limit": a string, an array or the work past a limit
    ├── SecretError                   a secret reference could not be resolved (names it, never a value)
    │   ├── SecretNotFoundError       no secret of that name
    │   ├── SecretAccessDenied        the secret names who may read it, and the reader is not one
    │   └── InvalidSecretReference    not $secret:KEY, $env:VAR, $vault:path#field or $aws:secret-id
    ├── WorkflowValidationError       a workflow definition was refused (.faults: every (path, message))
    │   └── WorkflowSlugTaken         the slug, and so its workflow topic, is another tenant's
    ├── TenantMismatch                a file, request or step task names another tenant than its own
    ├── ExecutionError                an execution cannot do what was asked of it (e.g. a replay)
    ├── StepFailure                   running one step failed; recorded on the step
    │   ├── StepError                 an action failed (retryable or not)
    │   │   ├── StepTimeout           the step ran past its timeout (retryable)
    │   │   ├── ConnectorError        a connector's call failed, normalized to a connector code
    │   │   └── UnknownAction         the step names an action no one registered
    │   ├── TemplateError             a step's input template failed to render
    │   │   └── TemplateLimitError    it went past a limit: size, number, work, nesting or time
    │   └── OutputError               a step's output is not a JSON object, or too large
    ├── LlmError                      an LLM call failed (names provider and model, never a key or prompt)
    │   ├── UnknownProvider           no provider of that name
    │   ├── UnknownModel              the provider does not know the model, or none was named
    │   ├── LlmKeyMissing             no API key found, or the key was refused
    │   ├── LlmContextExceeded        the prompt does not fit the model's context window
    │   ├── LlmRequestRefused         the provider refused the request as malformed
    │   ├── LlmUnavailable            429, 5xx or no answer through every retry (retryable)
    │   ├── LlmOutputInvalid          the answer is not the JSON its schema asks for
    │   └── LlmBudgetExceeded         the automation spent its LLM budget for the period
    ├── RagError                      a retrieval call failed; nothing was indexed or removed
    │   ├── RagEndpointNotFound       no endpoint of that slug in the tenant
    │   ├── RagEndpointInvalid        an endpoint's configuration cannot work
    │   ├── RagDocumentInvalid        a document without id or content, or unstorable metadata
    │   ├── RagFilterInvalid          a filter outside the documented syntax
    │   ├── RagDimensionMismatch      the embedder's dimension differs from the index's
    │   └── RagUnavailable            the embedder or the vector store failed (retryable)
    ├── StackError                    the local stack: a service cannot be prepared, started or stopped
    │   ├── MissingDependencyError    a program the stack needs is absent
    │   ├── PortInUseError            a configured port is taken by another process
    │   └── ServiceStartError         a service exited or never became ready
    └── CheckFailed                   an end-to-end check (smoke, demo, bench) did not get its result
"""

from __future__ import annotations

from automate.errors.base import AutomateError, UsageError
from automate.errors.codes import RETRYABLE_CODES, ErrorCodes, http_status_code
from automate.errors.data import (
    DoesNotExist,
    EventError,
    InvalidEventType,
    ModelError,
    MultipleObjectsReturned,
    NoLiveVersion,
    PayloadNotSerializable,
    PayloadTooLarge,
    RecordError,
    SchemaNotRegistered,
    SchemaViolation,
    UnknownEventType,
    UnknownWorkflow,
)
from automate.errors.llm import (
    LlmBudgetExceeded,
    LlmContextExceeded,
    LlmError,
    LlmKeyMissing,
    LlmOutputInvalid,
    LlmRequestRefused,
    LlmUnavailable,
    RagDimensionMismatch,
    RagDocumentInvalid,
    RagEndpointInvalid,
    RagEndpointNotFound,
    RagError,
    RagFilterInvalid,
    RagUnavailable,
    UnknownModel,
    UnknownProvider,
)
from automate.errors.rules import (
    EvaluationDepthError,
    InvalidArgumentsError,
    InvalidDataError,
    InvalidOperandError,
    NaNError,
    NonJsonRuleError,
    OperatorError,
    RuleError,
    RuleEvaluationError,
    RuleLimitError,
    RuleTooComplexError,
    RuleValidationError,
    ThrownError,
    UnknownOperatorError,
)
from automate.errors.secrets import (
    InvalidSecretReference,
    SecretAccessDenied,
    SecretError,
    SecretNotFoundError,
)
from automate.errors.services import (
    CheckFailed,
    ConfigurationError,
    ConnectError,
    ConnectorNotOurs,
    DatabaseError,
    MigrationError,
    MissingDependencyError,
    PortInUseError,
    PublisherBehind,
    RegistryError,
    ServiceError,
    ServiceStartError,
    StackError,
    TransportError,
)
from automate.errors.workflows import (
    ConnectorError,
    ExecutionError,
    OutputError,
    StepError,
    StepFailure,
    StepTimeout,
    TemplateError,
    TemplateLimitError,
    TenantMismatch,
    UnknownAction,
    WorkflowSlugTaken,
    WorkflowValidationError,
)

__all__ = [
    "RETRYABLE_CODES",
    "AutomateError",
    "CheckFailed",
    "ConfigurationError",
    "ConnectError",
    "ConnectorError",
    "ConnectorNotOurs",
    "DatabaseError",
    "DoesNotExist",
    "ErrorCodes",
    "EvaluationDepthError",
    "EventError",
    "ExecutionError",
    "InvalidArgumentsError",
    "InvalidDataError",
    "InvalidEventType",
    "InvalidOperandError",
    "InvalidSecretReference",
    "LlmBudgetExceeded",
    "LlmContextExceeded",
    "LlmError",
    "LlmKeyMissing",
    "LlmOutputInvalid",
    "LlmRequestRefused",
    "LlmUnavailable",
    "MigrationError",
    "MissingDependencyError",
    "ModelError",
    "MultipleObjectsReturned",
    "NaNError",
    "NoLiveVersion",
    "NonJsonRuleError",
    "OperatorError",
    "OutputError",
    "PayloadNotSerializable",
    "PayloadTooLarge",
    "PortInUseError",
    "PublisherBehind",
    "RagDimensionMismatch",
    "RagDocumentInvalid",
    "RagEndpointInvalid",
    "RagEndpointNotFound",
    "RagError",
    "RagFilterInvalid",
    "RagUnavailable",
    "RecordError",
    "RegistryError",
    "RuleError",
    "RuleEvaluationError",
    "RuleLimitError",
    "RuleTooComplexError",
    "RuleValidationError",
    "SchemaNotRegistered",
    "SchemaViolation",
    "SecretAccessDenied",
    "SecretError",
    "SecretNotFoundError",
    "ServiceError",
    "ServiceStartError",
    "StackError",
    "StepError",
    "StepFailure",
    "StepTimeout",
    "TemplateError",
    "TemplateLimitError",
    "TenantMismatch",
    "ThrownError",
    "TransportError",
    "UnknownAction",
    "UnknownEventType",
    "UnknownModel",
    "UnknownOperatorError",
    "UnknownProvider",
    "UnknownWorkflow",
    "UsageError",
    "WorkflowSlugTaken",
    "WorkflowValidationError",
    "http_status_code",
]
