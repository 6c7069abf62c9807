-- 0003: what connectors act with: secrets readable only by the automations and connectors they name,
-- named connections (a connector's configuration, with secret references), and the rate limits all
-- runtime workers share.

-- Who may read a secret: entries 'automation:<slug>' or 'connector:<key>'; empty: any reader of the tenant.
ALTER TABLE secret ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';

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

-- A token bucket per rate-limit key (e.g. a connector's class and connection), shared by every worker.
CREATE TABLE rate_limit (
    key        text             PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz      NOT NULL DEFAULT clock_timestamp()
);
