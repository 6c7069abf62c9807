-- Queries about automations, workflow versions and executions.

-- name: live_workflow
SELECT a.id, w.id, w.version
FROM automation a
JOIN workflow w ON w.automation_id = a.id AND w.version = a.live_version
WHERE a.tenant = %(tenant)s AND a.slug = %(slug)s AND a.enabled

-- name: insert_execution
INSERT INTO execution (id, tenant, automation_id, workflow_id, status, context)
VALUES (%(id)s::uuid, %(tenant)s, %(automation_id)s::uuid, %(workflow_id)s::uuid, 'PENDING', %(context)s)

-- Applying a workflow version (automate.runtime.workflows.store), listing and showing workflows.

-- name: lock_automation
SELECT id, live_version FROM automation WHERE tenant = %(tenant)s AND slug = %(slug)s FOR UPDATE

-- name: lock_slug
-- Serializes the applies of one slug across tenants (until the transaction ends): a slug, and so its
-- workflow topic, belongs to one tenant.
SELECT pg_advisory_xact_lock(hashtextextended('automate.workflow.' || %(slug)s, 0))

-- name: slug_tenants
-- The tenants that have an automation of this slug.
SELECT DISTINCT tenant FROM automation WHERE slug = %(slug)s ORDER BY tenant

-- name: insert_automation
INSERT INTO automation (id, tenant, slug, name)
VALUES (%(id)s::uuid, %(tenant)s, %(slug)s, %(name)s)
ON CONFLICT (tenant, slug) DO NOTHING

-- name: workflow_digest
SELECT id, digest FROM workflow WHERE automation_id = %(automation_id)s AND version = %(version)s

-- name: next_workflow_version
SELECT coalesce(max(version), 0) + 1 FROM workflow WHERE automation_id = %(automation_id)s

-- name: insert_workflow
INSERT INTO workflow (id, automation_id, version, definition, digest)
VALUES (%(id)s::uuid, %(automation_id)s, %(version)s, %(definition)s, %(digest)s)

-- name: set_live_version
UPDATE automation SET live_version = %(version)s, name = %(name)s, updated_at = now()
WHERE id = %(automation_id)s

-- name: delete_triggers
DELETE FROM trigger WHERE automation_id = %(automation_id)s

-- name: insert_trigger
INSERT INTO trigger (id, automation_id, event_pattern, rule, created_at)
VALUES (%(id)s::uuid, %(automation_id)s, %(event_pattern)s, %(rule)s, clock_timestamp())

-- name: notify_config
SELECT pg_notify('automate_config', %(slug)s)

-- name: list_workflows
SELECT a.id, a.tenant, a.slug, a.name, a.enabled, a.live_version, a.updated_at,
       coalesce((SELECT array_agg(t.event_pattern ORDER BY t.created_at, t.id)
                 FROM trigger t WHERE t.automation_id = a.id), '{}') AS triggers
FROM automation a
WHERE %(tenant)s::text IS NULL OR a.tenant = %(tenant)s
ORDER BY a.tenant, a.slug

-- name: get_workflow
SELECT a.id, a.tenant, a.slug, a.name, a.enabled, a.live_version, a.updated_at,
       coalesce((SELECT array_agg(t.event_pattern ORDER BY t.created_at, t.id)
                 FROM trigger t WHERE t.automation_id = a.id), '{}') AS triggers,
       w.definition
FROM automation a
JOIN workflow w ON w.automation_id = a.id AND w.version = a.live_version
WHERE a.tenant = %(tenant)s AND a.slug = %(slug)s

-- name: live_triggers
-- What the processors match events against: the triggers of every enabled automation's live version.
SELECT a.id::text, a.tenant, a.slug, a.live_version, t.event_pattern, t.rule
FROM automation a
JOIN trigger t ON t.automation_id = a.id
WHERE a.enabled AND a.live_version IS NOT NULL
ORDER BY a.tenant, a.slug, t.created_at, t.id

-- name: set_enabled
UPDATE automation SET enabled = %(enabled)s, updated_at = now()
WHERE tenant = %(tenant)s AND slug = %(slug)s
RETURNING id

-- name: listen_config
-- On a connection of its own: the notifications notify_config sends, at the commit of each change.
LISTEN automate_config
