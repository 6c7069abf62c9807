-- Failing executions the runtime cannot advance: those past their deadline (the deadline sweeper) and
-- those an unexpected error stopped (the runtime worker). Only a PENDING or RUNNING execution is failed.

-- name: sweep_past_deadline
-- Up to %(limit)s executions still PENDING or RUNNING past their deadline, FAILED with %(error)s; returns
-- (id, tenant, automation slug) of each. SKIP LOCKED: workers sweeping at once neither wait for one another
-- nor fail a row twice, and a row an engine is writing now is left to the next sweep. The partial index
-- execution_deadline (migration 0006) gives the unfinished rows in deadline order: no table scan, no sort.
WITH due AS (
    SELECT id FROM execution
    WHERE status IN ('PENDING', 'RUNNING') AND deadline_at < now()
    ORDER BY deadline_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE execution e SET status = 'FAILED', finished_at = now(), error = %(error)s::jsonb
FROM due, automation a
WHERE e.id = due.id AND a.id = e.automation_id
RETURNING e.id::text, e.tenant, a.slug

-- name: fail_execution
-- One execution FAILED with %(error)s, if it is the tenant's and still PENDING or RUNNING.
UPDATE execution SET status = 'FAILED', finished_at = now(), error = %(error)s::jsonb
WHERE id = %(id)s::uuid AND tenant = %(tenant)s AND status IN ('PENDING', 'RUNNING')
RETURNING id::text

-- name: create_failed_execution
-- The execution an ExecutionRequest asked for, created FAILED with %(error)s when nothing was written for it
-- before the error: only for a version of an automation of the request's tenant; nothing if it exists.
INSERT INTO execution (id, tenant, automation_id, workflow_id, event_id, status, context, error, started_at,
                       finished_at)
SELECT %(id)s::uuid, a.tenant, a.id, w.id, %(event_id)s::uuid, 'FAILED', %(context)s::jsonb, %(error)s::jsonb,
       now(), now()
FROM workflow w
JOIN automation a ON a.id = w.automation_id
WHERE w.automation_id = %(automation_id)s::uuid AND w.version = %(version)s AND a.tenant = %(tenant)s
ON CONFLICT (id) DO NOTHING
RETURNING id::text
