-- 0004: what LLM calls keep: the opt-in response cache, and per-automation budgets with their usage.

-- Answers of calls made with cache=True, by the sha256 of the canonical request (never a key).
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
