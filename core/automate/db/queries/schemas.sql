-- The schema registry's ids of our contracts, cached in Postgres by `automate migrate` (or `automate
-- schemas register`) so that emit_event and the workers never call the registry to find them.

-- name: ids_by_fingerprint
SELECT fingerprint, schema_id FROM schema_id

-- name: writer_schemas
SELECT schema_id, schema FROM schema_id

-- name: cache
INSERT INTO schema_id (subject, version, schema_id, fingerprint, schema)
VALUES (%(subject)s, %(version)s, %(schema_id)s, %(fingerprint)s, %(schema)s)
ON CONFLICT DO NOTHING
