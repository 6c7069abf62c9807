-- Databases of the server (the local stack's, the benchmark's and the tests' own). {name} is an
-- identifier, filled in by the store.

-- name: ping
SELECT 1

-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s

-- name: create_database
CREATE DATABASE {name}

-- name: create_database_from
CREATE DATABASE {name} TEMPLATE {template}

-- name: drop_database
DROP DATABASE IF EXISTS {name} WITH (FORCE)

-- name: reload_config
SELECT pg_reload_conf()

-- name: unsafe_hba_rules
SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust' OR error IS NOT NULL
