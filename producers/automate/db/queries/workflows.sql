-- Queries about automations, workflow versions and executions.

-- name: live_workflow
SELECT a.id, w.id, w.version
FROM automation a
JOIN workflow w ON w.automation_id = a.id AND w.version = a.live_version
WHERE a.tenant = %(tenant)s AND a.slug = %(slug)s AND a.enabled

-- name: insert_execution
INSERT INTO execution (id, tenant, automation_id, workflow_id, status, context)
VALUES (%(id)s::uuid, %(tenant)s, %(automation_id)s::uuid, %(workflow_id)s::uuid, 'PENDING', %(context)s)
