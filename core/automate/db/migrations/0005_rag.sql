-- 0005: retrieval endpoints (rag_endpoint, from 0001) hold slugs of one shape (they name an endpoint in
-- a workflow, a CLI argument and a directory's owner) and configurations that are JSON objects.
ALTER TABLE rag_endpoint ADD CONSTRAINT rag_endpoint_slug_shape CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$');
ALTER TABLE rag_endpoint ADD CONSTRAINT rag_endpoint_config_object CHECK (jsonb_typeof(config) = 'object');
