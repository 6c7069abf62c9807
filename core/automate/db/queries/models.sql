-- Static queries of automate.models (the per-model selects and inserts are built from column whitelists).

-- name: execution_target
-- What a new execution of an automation needs: its tenant and the workflow version to pin.
SELECT a.tenant, a.slug, a.live_version, w.id::text AS workflow_id
FROM automation a
LEFT JOIN workflow w ON w.automation_id = a.id AND w.version = a.live_version
WHERE a.id = %(automation_id)s::uuid
