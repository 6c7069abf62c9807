-- Executions and their step runs as operators and tools see them: listing, showing, canceling,
-- reopening a failed one, and following a set of executions (the demo, the benchmark).

-- The operator's queries take a tenant: NULL means every tenant (`--all-tenants`).

-- name: list_executions
SELECT e.id::text, a.slug, e.status, e.created_at, e.finished_at, e.tenant
FROM execution e
JOIN automation a ON a.id = e.automation_id
WHERE (%(status)s::text IS NULL OR e.status = %(status)s)
  AND (%(tenant)s::text IS NULL OR e.tenant = %(tenant)s)
ORDER BY e.created_at DESC
LIMIT %(limit)s

-- name: get_execution
SELECT id::text, status, context, error, created_at, started_at, finished_at, tenant
FROM execution WHERE id = %(id)s::uuid AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)

-- name: step_runs
SELECT step_id, attempt, status, error_code, error_message, output
FROM step_run WHERE execution_id = %(id)s::uuid
ORDER BY started_at, attempt

-- name: cancel_execution
UPDATE execution SET status = 'CANCELED', finished_at = now(), error = %(error)s
WHERE id = %(id)s::uuid AND status IN ('PENDING', 'RUNNING')
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)

-- name: failed_step
-- A failed execution's tenant, workflow, and its last failed step and attempt (what a replay resumes).
SELECT e.tenant, a.slug, s.step_id, s.attempt
FROM execution e
JOIN automation a ON a.id = e.automation_id
JOIN step_run s ON s.execution_id = e.id AND s.status = 'FAILED'
WHERE e.id = %(id)s::uuid AND e.status = 'FAILED'
ORDER BY s.finished_at DESC
LIMIT 1

-- name: refail_execution
-- Undo a replay whose step task was never sent: FAILED again with its error, unless the replayed attempt
-- has started meanwhile (the task arrived after all) or the execution moved on.
UPDATE execution SET status = 'FAILED', error = %(error)s, finished_at = now()
WHERE id = %(id)s::uuid AND status = 'RUNNING'
  AND NOT EXISTS (SELECT 1 FROM step_run s
                  WHERE s.execution_id = %(id)s::uuid AND s.step_id = %(step_id)s AND s.attempt > %(attempt)s)

-- name: reopen_execution
UPDATE execution SET status = 'RUNNING', finished_at = NULL, error = NULL,
       deadline_at = now() + make_interval(secs => %(timeout)s)
WHERE id = %(id)s::uuid AND status = 'FAILED'

-- name: statuses
-- (Also how the runtime's state writer learns the status of executions it only recorded steps of.)
SELECT id::text, status FROM execution WHERE id = ANY(%(ids)s::uuid[])

-- name: retried_attempts
-- Attempts after the first, per execution and step, of the given executions.
SELECT execution_id::text, step_id, count(*)
FROM step_run
WHERE execution_id = ANY(%(ids)s::uuid[]) AND attempt > 1
GROUP BY 1, 2

-- name: of_events
-- The executions of the given automations that the given events started.
SELECT id::text FROM execution
WHERE event_id = ANY(%(events)s::uuid[]) AND automation_id = ANY(%(automations)s::uuid[])

-- name: timings
-- Status, event, first step's start and end (epoch seconds) of the given executions.
SELECT e.id::text, e.status, e.event_id::text,
       (SELECT extract(epoch FROM min(s.started_at))::float8 FROM step_run s WHERE s.execution_id = e.id),
       extract(epoch FROM e.finished_at)::float8
FROM execution e
WHERE e.id = ANY(%(ids)s::uuid[])

-- name: event_timings
-- The same for every execution an event started (the benchmark's database holds only its own).
SELECT e.id::text, e.status, e.event_id::text,
       (SELECT extract(epoch FROM min(s.started_at))::float8 FROM step_run s WHERE s.execution_id = e.id),
       extract(epoch FROM e.finished_at)::float8
FROM execution e
WHERE e.event_id IS NOT NULL

-- name: finished_since
-- Executions started by events that have ended, created at or after a moment (epoch seconds).
SELECT count(*) FROM execution
WHERE status IN ('SUCCESS', 'FAILED', 'CANCELED') AND event_id IS NOT NULL AND created_at >= to_timestamp(%(since)s)

-- name: status_of_event
SELECT status FROM execution WHERE event_id = %(event_id)s::uuid
