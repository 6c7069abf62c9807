"""Settings: one pydantic-settings object, read once at start and passed down.

Sources, highest priority first: keyword arguments, ``AUTOMATE_*`` environment variables, a TOML file
(``AUTOMATE_CONFIG`` or ``./automate.toml`` when present), the defaults below.

An external service is used instead of the local stack when its URL is set:
``AUTOMATE_DATABASE_URL``, ``AUTOMATE_KAFKA_BOOTSTRAP``, ``AUTOMATE_SCHEMA_REGISTRY_URL``,
``AUTOMATE_CONNECT_URL``, ``AUTOMATE_PROMETHEUS_URL``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "get_settings", "project_root"]

_LOOPBACK = "127.0.0.1"


def project_root() -> Path | None:
    """The checkout this code runs from (editable install), or None for an installed wheel."""
    here = Path(__file__).resolve().parent  # core/automate
    root = here.parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "infra").is_dir() else None


def _toml_file() -> Path | None:
    explicit = os.environ.get("AUTOMATE_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("automate.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Everything configurable in Automate. Field ``x`` is set by ``AUTOMATE_X``."""

    model_config = SettingsConfigDict(env_prefix="AUTOMATE_", extra="ignore", frozen=True)

    # Where the local stack keeps jars, data, logs and pid files (git-ignored).
    home: Path = Field(default_factory=lambda: (project_root() or Path.cwd()) / ".automate")
    tenant: str = "default"
    # Whether a workflow file's own `tenant:` is trusted (else it must be the operator's tenant).
    workflow_tenant_from_file: bool = False
    topic_prefix: str = "automate"
    publisher: Literal["debezium", "relay"] = "debezium"
    # The one size limit (automate.sizes): an event's encoded payload and the context it becomes, or a
    # run_workflow request; every Kafka limit (producers, topics, Connect) is derived from it.
    max_payload_bytes: int = Field(default=512 * 1024, gt=0, le=64 * 1024 * 1024)
    strict_event_types: bool = False
    # Partitions of the topics the project creates (events, dead letters, retry tiers, workflows).
    topic_partitions: int = Field(default=6, gt=0)
    # The processors reload automations on NOTIFY automate_config; this is the fallback re-read interval.
    config_poll_interval_s: float = Field(default=30.0, gt=0)

    # External services; None means "the local stack started by `automate up`".
    database_url: str | None = Field(default=None, repr=False)  # its password: never in a repr
    kafka_bootstrap: str | None = None
    schema_registry_url: str | None = None
    connect_url: str | None = None
    # The outbox connector's `database.password` as a config-provider placeholder that the Connect worker
    # resolves, e.g. `${file:/etc/connect/automate.properties:password}`; needed with connect_url
    # (docs/outbox.md). The local stack's Connect gets one of its own.
    connect_password_placeholder: str | None = None
    # The Debezium connector, replication slot and publication of this installation (automate.stack.cdc):
    # by default named from the topic prefix and the database, so installations share a Connect and a
    # Postgres server side by side. The publication takes the slot's name.
    outbox_connector_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
    outbox_slot_name: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,63}$")
    # The publisher watch (automate.publisher_watch): how often it probes the Debezium path, and how long
    # a probe may wait unread while the slot does not move before it restarts the connector's task (keep
    # it at least twice the Connect worker's offset.flush.interval.ms: the local stack's is 1 s).
    publisher_probe_interval_s: float = Field(default=5.0, gt=0)
    publisher_stall_after_s: float = Field(default=120.0, gt=0)
    prometheus_url: str | None = None
    # Where every worker serves /metrics: loopback by default; 0.0.0.0 for a Prometheus on another host.
    metrics_address: str = "127.0.0.1"

    # Ports of the local stack: below 32768, outside Linux's ephemeral range, so that no client
    # connection's local port can take one while a service restarts.
    postgres_port: int = 25432
    kafka_port: int = 29092
    kafka_controller_port: int = 29093
    connect_port: int = 28083
    registry_port: int = 28080
    registry_management_port: int = 28081  # Apicurio's health and metrics
    prometheus_port: int = 29090

    # Credentials of the local Postgres (loopback only).
    postgres_user: str = "automate"
    postgres_password: SecretStr = SecretStr("automate")
    postgres_db: str = "automate"

    # Kafka security, for every client (relay, processors, runtime, retry worker, admin tools, Connect's
    # worker); checked by automate.kafka_security (docs/pipeline.md, "Kafka security"). TLS files are PEM.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = None
    kafka_ssl_certificate_location: Path | None = None  # mTLS: the client's certificate and key
    kafka_ssl_key_location: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    # "scram": `automate up` starts the local broker with a SASL/SCRAM-SHA-512 listener and ACLs; clients
    # without a username of their own connect as its `automate` user (<home>/conf/kafka/credentials.json).
    kafka_local_auth: Literal["none", "scram"] = "none"

    # What the workers log: Automate's own loggers at this level; other libraries' only from WARNING up
    # (their debug lines can carry request headers).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Workflow runtime.
    max_step_output_bytes: int = Field(default=256 * 1024, gt=0)
    http_timeout_s: float = Field(default=30.0, gt=0)
    # How often each runtime worker fails the executions still running past their deadline.
    sweep_interval_s: float = Field(default=10.0, gt=0)
    # Hosts or CIDRs http.request may reach although they are private, loopback or link-local
    # (refused by default, after DNS resolution, against SSRF). E.g. ["127.0.0.1/32", "api.internal"].
    http_allowlist: tuple[str, ...] = ()
    # What one render of a step's input templates may do (docs/runtime.md, "Template limits"): its time;
    # the characters of any string one operation builds and of the whole rendered input; its work (loop
    # items, calls, filters, every 16 characters built); the nesting of calls and values; integer digits.
    template_timeout_s: float = Field(default=2.0, gt=0)
    template_max_string: int = Field(default=1_000_000, gt=0)
    template_max_output: int = Field(default=1_000_000, gt=0)
    template_max_work: int = Field(default=1_000_000, gt=0)
    template_max_depth: int = Field(default=100, gt=0)
    template_max_int_digits: int = Field(default=1_000, gt=0)

    # Secrets (automate.secrets). Fernet keys, the first one encrypting: AUTOMATE_SECRET_KEYS (comma-
    # separated) or a key file, one key a line (default <home>/conf/secret.keys, which `automate up` makes
    # for the local stack, readable by its owner only).
    secret_keys: SecretStr | None = None
    secret_key_file: Path | None = None
    # HashiCorp Vault ($vault:path#field): the KV v2 engine mounted at vault_mount.
    vault_url: str | None = None
    vault_token: SecretStr | None = None
    vault_mount: str = "secret"
    # AWS ($aws:secret-id, and the aws connector): boto3's own configuration unless these are set.
    aws_region: str | None = None
    aws_endpoint_url: str | None = None

    # LLM calls (automate_llm): the provider and model a call uses unless it names its own.
    llm_provider: str = "openai"
    llm_model: str | None = None  # None: the provider's default model (docs/llm.md)
    # The provider's API key, or a reference to it ($secret:NAME, $env:VAR, $vault:..., $aws:...). Unset:
    # the SDK's own variable (OPENAI_API_KEY, ANTHROPIC_API_KEY), or boto3's credentials for bedrock.
    llm_api_key: SecretStr | None = None
    # An OpenAI-compatible server (vLLM, Ollama, LM Studio) or a proxy; unset: OPENAI_BASE_URL, the SDK's.
    llm_base_url: str | None = None
    llm_timeout_s: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0)
    # How long a cached answer (a call with cache=True) is served again.
    llm_cache_ttl_s: float = Field(default=86_400.0, gt=0)
    # USD per million tokens (input, output) by model, over the built-in table: {"my-model": [0.5, 1.5]}.
    llm_prices: tuple[tuple[str, tuple[float, float]], ...] = ()
    # Tokenizers count_tokens uses exactly, by model name: {"my-model": "/models/my-model/tokenizer.json"}.
    llm_tokenizers: tuple[tuple[str, str], ...] = ()

    @field_validator("llm_prices", "llm_tokenizers", mode="before")
    @classmethod
    def _sorted_pairs(cls, value: Any) -> Any:
        # Written as a JSON object; kept as sorted (name, value) pairs so that Settings stays hashable
        # (the connection pools are keyed by it). Read them with dict(settings.llm_prices).
        return tuple(sorted(value.items())) if isinstance(value, dict) else value
    # --- end of the LLM settings ---

    # Retrieval (rag): what an endpoint gets when index_documents creates it on first use.
    rag_embedder: str = "wordllama"
    rag_store: str = "lancedb"
    rag_chunk_size: int = Field(default=1_000, gt=0)  # characters
    rag_chunk_overlap: int = Field(default=100, ge=0)
    # --- end of the retrieval settings ---

    java_home: Path | None = None
    startup_timeout_s: float = Field(default=180.0, gt=0)

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    # Effective endpoints: the configured external one, else the local stack's.

    @property
    def local_database_url(self) -> str:
        user = quote(self.postgres_user, safe="")
        password = quote(self.postgres_password.get_secret_value(), safe="")
        db = quote(self.postgres_db, safe="")
        return f"postgresql://{user}:{password}@{_LOOPBACK}:{self.postgres_port}/{db}"

    @property
    def dsn(self) -> str:
        """libpq URL of the database holding Automate's state."""
        return self.database_url or self.local_database_url

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{_LOOPBACK}:{self.kafka_port}"

    @property
    def registry_url(self) -> str:
        """Base URL of the Confluent-compatible schema registry API."""
        return self.schema_registry_url or f"http://{_LOOPBACK}:{self.registry_port}/apis/ccompat/v7"

    @property
    def connect_base_url(self) -> str:
        return self.connect_url or f"http://{_LOOPBACK}:{self.connect_port}"

    @property
    def prometheus_base_url(self) -> str:
        return self.prometheus_url or f"http://{_LOOPBACK}:{self.prometheus_port}"

    def topic(self, name: str) -> str:
        """Full topic name, e.g. ``topic("events")`` is ``automate.events``."""
        return f"{self.topic_prefix}.{name}"


@functools.cache
def get_settings(**overrides: Any) -> Settings:
    """The process's settings, read once. Pass overrides only in tests and tools."""
    return Settings(**overrides)
