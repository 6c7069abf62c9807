-- Retrieval endpoints: a slug per tenant and its configuration (chunking, embedder, store), never a key.

-- name: get_endpoint
SELECT id::text, config FROM rag_endpoint WHERE tenant = %(tenant)s AND slug = %(slug)s

-- name: get_endpoint_for_share
-- A writer's read: a concurrent delete_endpoint waits for this transaction (and this one for it).
SELECT id::text, config FROM rag_endpoint WHERE tenant = %(tenant)s AND slug = %(slug)s FOR SHARE

-- name: insert_endpoint
-- Nothing when the slug exists (a concurrent first index_documents waits for the other's commit here).
INSERT INTO rag_endpoint (id, tenant, slug, config)
VALUES (%(id)s::uuid, %(tenant)s, %(slug)s, %(config)s::jsonb)
ON CONFLICT (tenant, slug) DO NOTHING
RETURNING id::text

-- name: list_endpoints
SELECT slug, id::text, config, created_at FROM rag_endpoint WHERE tenant = %(tenant)s ORDER BY slug

-- name: namespace_users
-- Endpoints (any tenant) whose Pinecone store names this host and namespace.
SELECT tenant, slug, id::text FROM rag_endpoint
WHERE config->'store'->>'kind' = 'pinecone' AND config->'store'->>'host' = %(host)s
  AND config->'store'->>'namespace' = %(namespace)s

-- name: lock_key
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))

-- name: delete_endpoint
DELETE FROM rag_endpoint WHERE tenant = %(tenant)s AND slug = %(slug)s RETURNING id::text, config
