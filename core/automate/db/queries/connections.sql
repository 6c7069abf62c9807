-- Named connections: a connector's configuration (settings and secret references, never secret values).

-- name: get_connection
SELECT connector, config FROM connection WHERE tenant = %(tenant)s AND name = %(name)s

-- name: put_connection
INSERT INTO connection (id, tenant, name, connector, config)
VALUES (%(id)s::uuid, %(tenant)s, %(name)s, %(connector)s, %(config)s)
ON CONFLICT (tenant, name) DO UPDATE
SET connector = excluded.connector, config = excluded.config, updated_at = now()

-- name: delete_connection
DELETE FROM connection WHERE tenant = %(tenant)s AND name = %(name)s

-- name: list_connections
SELECT name, connector, config, updated_at FROM connection WHERE tenant = %(tenant)s ORDER BY name

-- name: connections_of
-- Every connection of the given connectors, of every tenant (what `automate serve` listens for).
SELECT tenant, name, connector, config FROM connection WHERE connector = ANY(%(connectors)s) ORDER BY tenant, name
