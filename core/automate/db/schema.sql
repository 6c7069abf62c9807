-- The whole schema as it stands after every migration (tests prove the two agree).

-- Transactional outbox. Debezium reads inserts only; the relay uses the claim columns.
CREATE TABLE automate_outbox (
    id               uuid        PRIMARY KEY,
    tenant           text        NOT NULL,
    aggregatetype    text        NOT NULL,             -- routing: the topic the record goes to
    aggregateid      text        NOT NULL,             -- the Kafka record key
    type             text        NOT NULL,             -- event type, e.g. order.created
    payload          bytea       NOT NULL,             -- Avro, Confluent wire format, ready to publish
    dedupe_key       text,
    created_at       timestamp   NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),  -- Debezium wants timestamp
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'claimed', 'published', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    claimed_at       timestamptz,
    lease_expires_at timestamptz,
    last_error       text,
    traceparent      text                                  -- W3C trace context of the emitter (or NULL)
);
CREATE INDEX automate_outbox_claimable ON automate_outbox (next_attempt_at, created_at)
    WHERE status = 'pending';
CREATE INDEX automate_outbox_leased ON automate_outbox (lease_expires_at) WHERE status = 'claimed';

-- The publisher watch's probe (Debezium): inserted and deleted in one transaction; its insert reaches the
-- connector through the outbox's publication and is dropped there.
CREATE TABLE automate_publisher_probe (
    seq       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    probed_at timestamptz NOT NULL DEFAULT now()
);

-- Dedupe keys outlive the outbox rows (published rows are cleaned up).
CREATE TABLE automate_event_dedupe (
    tenant     text        NOT NULL,
    dedupe_key text        NOT NULL,
    event_id   uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, dedupe_key)
);

-- Schema registry ids cached so emit_event makes no network call.
CREATE TABLE schema_id (
    subject     text        NOT NULL,
    version     integer     NOT NULL,
    schema_id   integer     NOT NULL,
    fingerprint text        NOT NULL,                  -- sha256 of the canonical schema
    schema      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, version)
);
CREATE UNIQUE INDEX schema_id_fingerprint ON schema_id (subject, fingerprint);

CREATE TABLE automation (
    id           uuid        PRIMARY KEY,
    tenant       text        NOT NULL,
    slug         text        NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name         text        NOT NULL,
    enabled      boolean     NOT NULL DEFAULT true,
    live_version integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, slug)
);

-- Immutable versions of a validated workflow graph.
CREATE TABLE workflow (
    id            uuid        PRIMARY KEY,
    automation_id uuid        NOT NULL REFERENCES automation (id) ON DELETE CASCADE,
    version       integer     NOT NULL CHECK (version > 0),
    definition    jsonb       NOT NULL,
    digest        text        NOT NULL,                -- sha256 of the canonical definition
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (automation_id, version)
);

CREATE TABLE trigger (
    id            uuid        PRIMARY KEY,
    automation_id uuid        NOT NULL REFERENCES automation (id) ON DELETE CASCADE,
    event_pattern text        NOT NULL,                -- exact type or glob, e.g. order.*
    rule          jsonb,                               -- JSONLogic over the event; NULL matches all
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trigger_automation ON trigger (automation_id);

CREATE TABLE execution (
    id            uuid        PRIMARY KEY,             -- uuid5(event id, automation id) when rule-triggered
    tenant        text        NOT NULL,
    automation_id uuid        NOT NULL REFERENCES automation (id),
    workflow_id   uuid        REFERENCES workflow (id),  -- the pinned version
    event_id      uuid,
    status        text        NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELED')),
    context       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    attempt       integer     NOT NULL DEFAULT 0,
    error         jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    deadline_at   timestamptz
) WITH (fillfactor = 80);  -- room for HOT updates of the status
CREATE INDEX execution_automation ON execution (automation_id, created_at);
-- The deadline sweeper's way to the unfinished executions, in deadline order (migration 0006).
CREATE INDEX execution_deadline ON execution (deadline_at) WHERE status IN ('PENDING', 'RUNNING');

-- One row per step attempt. Input holds templates and secret references, never resolved secrets.
CREATE TABLE step_run (
    id              uuid        PRIMARY KEY,
    execution_id    uuid        NOT NULL,              -- no foreign key: see migration 0002
    step_id         text        NOT NULL,
    attempt         integer     NOT NULL CHECK (attempt > 0),
    status          text        NOT NULL
                    CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED', 'RETRYING', 'SKIPPED', 'CANCELED')),
    idempotency_key text        NOT NULL,              -- execution id + step id
    input           jsonb,
    output          jsonb,
    error_code      text,
    error_message   text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (execution_id, step_id, attempt)
);

CREATE TABLE secret (
    id         uuid        PRIMARY KEY,
    tenant     text        NOT NULL,
    name       text        NOT NULL,
    ciphertext bytea       NOT NULL,
    key_id     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    scopes     text[]      NOT NULL DEFAULT '{}',      -- 'automation:<slug>', 'connector:<key>'; empty: all
    UNIQUE (tenant, name)
);

CREATE TABLE rag_endpoint (
    id         uuid        PRIMARY KEY,
    tenant     text        NOT NULL,
    slug       text        NOT NULL,
    config     jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, slug)
);

CREATE TABLE connection (
    id         uuid        PRIMARY KEY,
    tenant     text        NOT NULL,
    name       text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    connector  text        NOT NULL,
    config     jsonb       NOT NULL,                   -- secret references, never secret values
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);

CREATE TABLE rate_limit (
    key        text             PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz      NOT NULL DEFAULT clock_timestamp()
);

-- Retrieval endpoints (0005): slugs of one shape, configurations that are JSON objects.
ALTER TABLE rag_endpoint ADD CONSTRAINT rag_endpoint_slug_shape CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$');
ALTER TABLE rag_endpoint ADD CONSTRAINT rag_endpoint_config_object CHECK (jsonb_typeof(config) = 'object');

-- LLM calls (0004): the opt-in response cache, per-automation budgets and their usage.
CREATE TABLE llm_cache (
    tenant     text        NOT NULL,
    key        text        NOT NULL CHECK (key ~ '^[0-9a-f]{64}$'),
    response   jsonb       NOT NULL,                   -- {text, model, input_tokens, output_tokens}
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX llm_cache_expires ON llm_cache (expires_at);

-- What an automation may spend on LLM calls per UTC day or month (USD and/or tokens).
CREATE TABLE llm_budget (
    tenant      text        NOT NULL,
    automation  text        NOT NULL,
    period      text        NOT NULL CHECK (period IN ('day', 'month')),
    usd_limit   numeric(18, 8) CHECK (usd_limit >= 0),       -- up to budgets.MAX_USD (1e8)
    token_limit bigint      CHECK (token_limit >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, automation),
    CHECK (usd_limit IS NOT NULL OR token_limit IS NOT NULL)
);

-- What an automation's LLM calls used, per UTC day (a budget's month adds its days up).
CREATE TABLE llm_usage (
    tenant        text           NOT NULL,
    automation    text           NOT NULL,
    day           date           NOT NULL,
    requests      bigint         NOT NULL DEFAULT 0,
    input_tokens  bigint         NOT NULL DEFAULT 0,
    output_tokens bigint         NOT NULL DEFAULT 0,
    cost_usd      numeric(16, 8) NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, automation, day)
);

-- What calls in flight may still spend (reserved before a call, removed when it is charged or fails; a
-- crashed worker's reservation stops counting at expires_at).
CREATE TABLE llm_reservation (
    id         uuid           PRIMARY KEY,
    tenant     text           NOT NULL,
    automation text           NOT NULL,
    tokens     bigint         NOT NULL CHECK (tokens >= 0),
    usd        numeric(20, 8) NOT NULL CHECK (usd >= 0),
    expires_at timestamptz    NOT NULL
);
CREATE INDEX llm_reservation_budget ON llm_reservation (tenant, automation, expires_at);
