-- Queries of the workflow runtime's state: executions and step runs.

-- name: load_execution
-- Executions (many at once), their pinned workflow version and the latest attempt of each step.
SELECT e.id::text, e.tenant, e.status, e.context, e.event_id::text, e.attempt, e.started_at, e.deadline_at,
       e.workflow_id::text, w.definition, w.version, a.slug, a.id::text,
       (SELECT coalesce(json_agg(json_build_array(s.step_id, s.attempt, s.status, s.output, s.error_code)),
                        '[]'::json)
        FROM (SELECT DISTINCT ON (step_id) step_id, attempt, status, output, error_code
              FROM step_run WHERE execution_id = e.id ORDER BY step_id, attempt DESC) s)
FROM execution e
JOIN automation a ON a.id = e.automation_id
LEFT JOIN workflow w ON w.id = e.workflow_id
WHERE e.id = ANY(%(ids)s::uuid[])

-- name: start_execution
UPDATE execution SET status = 'RUNNING', started_at = coalesce(started_at, now()),
       deadline_at = coalesce(deadline_at, now() + make_interval(secs => %(timeout)s))
WHERE id = %(id)s::uuid AND status = 'PENDING'

-- name: finish_execution
UPDATE execution SET status = %(status)s, finished_at = now(), error = %(error)s
WHERE id = %(id)s::uuid AND status IN ('PENDING', 'RUNNING')

-- name: record_step
INSERT INTO step_run (id, execution_id, step_id, attempt, status, idempotency_key, input, output, error_code,
                      error_message, started_at, finished_at)
VALUES (%(id)s::uuid, %(execution_id)s::uuid, %(step_id)s, %(attempt)s, %(status)s, %(idempotency_key)s,
        %(input)s, %(output)s, %(error_code)s, %(error_message)s, %(started_at)s, now())
ON CONFLICT (execution_id, step_id, attempt) DO UPDATE
SET status = EXCLUDED.status, output = EXCLUDED.output, error_code = EXCLUDED.error_code,
    error_message = EXCLUDED.error_message, finished_at = EXCLUDED.finished_at
WHERE step_run.status NOT IN ('SUCCESS', 'SKIPPED')

-- name: create_execution_for_request
-- Inserts nothing when the automation has no such version (the worker dead-letters the request).
INSERT INTO execution (id, tenant, automation_id, workflow_id, event_id, status, context)
SELECT %(id)s::uuid, %(tenant)s, w.automation_id, w.id, %(event_id)s::uuid, 'PENDING', %(context)s
FROM workflow w
WHERE w.automation_id = %(automation_id)s::uuid AND w.version = %(version)s
ON CONFLICT (id) DO NOTHING

-- name: cancel_execution
UPDATE execution SET status = 'CANCELED', finished_at = now(), error = %(error)s
WHERE id = %(id)s::uuid AND status IN ('PENDING', 'RUNNING')

-- name: reopen_execution
UPDATE execution SET status = 'RUNNING', finished_at = NULL, error = NULL,
       deadline_at = now() + make_interval(secs => %(timeout)s)
WHERE id = %(id)s::uuid AND status = 'FAILED'
