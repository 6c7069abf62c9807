-- Retrieval endpoints: a slug per tenant and its configuration (chunking, embedder, store), never a key.

-- name: get_endpoint
SELECT id::text, config FROM rag_endpoint WHERE tenant = %(tenant)s AND slug = %(slug)s

-- name: insert_endpoint
-- Nothing when the slug exists (a concurrent first index_documents waits for the other's commit here).
INSERT INTO rag_endpoint (id, tenant, slug, config)
VALUES (%(id)s::uuid, %(tenant)s, %(slug)s, %(config)s::jsonb)
ON CONFLICT (tenant, slug) DO NOTHING
RETURNING id::text

-- name: list_endpoints
SELECT slug, id::text, config, created_at FROM rag_endpoint WHERE tenant = %(tenant)s ORDER BY slug

-- name: delete_endpoint
DELETE FROM rag_endpoint WHERE tenant = %(tenant)s AND slug = %(slug)s RETURNING id::text, config
