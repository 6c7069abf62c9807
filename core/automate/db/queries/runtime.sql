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

-- The runtime's writes below are set-based: each writes a whole group-commit batch in one statement, from
-- one JSON array of rows (a JSON object per write; see automate.runtime.state). Those that set an
-- execution's status return it for the rows they changed.

-- name: workflow_version
-- A workflow version, its automation's slug and tenant (versions never change once applied).
SELECT w.id::text, w.definition, a.slug, a.tenant
FROM workflow w
JOIN automation a ON a.id = w.automation_id
WHERE w.automation_id = %(automation_id)s::uuid AND w.version = %(version)s

-- name: create_execution
-- Executions started straight from their requests. Returns those inserted (id, status): a redelivered
-- request inserts nothing, and neither does one naming a version that does not exist.
INSERT INTO execution (id, tenant, automation_id, workflow_id, event_id, status, context, started_at,
                       deadline_at)
SELECT r.id, r.tenant, w.automation_id, w.id, r.event_id, 'RUNNING', r.context, now(),
       now() + make_interval(secs => r.timeout)
FROM json_to_recordset(%(rows)s::json)
     AS r (id uuid, tenant text, automation_id uuid, version int, event_id uuid, context jsonb, timeout float8)
JOIN workflow w ON w.automation_id = r.automation_id AND w.version = r.version
ON CONFLICT (id) DO NOTHING
RETURNING id::text, status

-- name: run_execution
-- An execution run start to end in one go (every step pure): created already ended, with its step
-- results, in one statement. Returns those inserted (id, status); for an execution that exists already (a
-- redelivered request, or one made by run_workflow) nothing is written, and the runtime resumes it.
WITH r AS (
    SELECT * FROM json_to_recordset(%(rows)s::json)
        AS r (id uuid, tenant text, automation_id uuid, version int, event_id uuid, context jsonb,
              timeout float8, started_at float8, status text, error jsonb, steps json)
), created AS (
    INSERT INTO execution (id, tenant, automation_id, workflow_id, event_id, status, context, error,
                           started_at, deadline_at, finished_at)
    SELECT r.id, r.tenant, w.automation_id, w.id, r.event_id, r.status, r.context, r.error,
           to_timestamp(r.started_at), to_timestamp(r.started_at) + make_interval(secs => r.timeout), now()
    FROM r
    JOIN workflow w ON w.automation_id = r.automation_id AND w.version = r.version
    ON CONFLICT (id) DO NOTHING
    RETURNING id, status
), steps AS (
    INSERT INTO step_run (id, execution_id, step_id, attempt, status, idempotency_key, input, output,
                          error_code, error_message, started_at, finished_at)
    SELECT gen_random_uuid(), c.id, s.step_id, s.attempt, s.status, c.id::text || ':' || s.step_id, s.input,
           s.output, s.error_code, s.error_message, to_timestamp(s.started_at), now()
    FROM created c
    JOIN r ON r.id = c.id
    CROSS JOIN LATERAL json_to_recordset(r.steps)
        AS s (step_id text, attempt int, status text, input jsonb, output jsonb, error_code text,
              error_message text, started_at float8)
)
SELECT id::text, status FROM created

-- name: start_execution
-- Executions created PENDING elsewhere (run_workflow) are started on their first load.
UPDATE execution e SET status = 'RUNNING', started_at = coalesce(e.started_at, now()),
       deadline_at = coalesce(e.deadline_at, now() + make_interval(secs => r.timeout))
FROM json_to_recordset(%(rows)s::json) AS r (id uuid, timeout float8)
WHERE e.id = r.id AND e.status = 'PENDING'
RETURNING e.id::text, e.status

-- name: record_step
-- One row per attempt; a result recorded as SUCCESS or SKIPPED is final.
INSERT INTO step_run (id, execution_id, step_id, attempt, status, idempotency_key, input, output, error_code,
                      error_message, started_at, finished_at)
SELECT gen_random_uuid(), r.execution_id, r.step_id, r.attempt, r.status,
       r.execution_id::text || ':' || r.step_id, r.input, r.output, r.error_code, r.error_message,
       to_timestamp(r.started_at), now()
FROM json_to_recordset(%(rows)s::json)
     AS r (execution_id uuid, step_id text, attempt int, status text, input jsonb, output jsonb,
           error_code text, error_message text, started_at float8)
ON CONFLICT (execution_id, step_id, attempt) DO UPDATE
SET status = EXCLUDED.status, output = EXCLUDED.output, error_code = EXCLUDED.error_code,
    error_message = EXCLUDED.error_message, finished_at = EXCLUDED.finished_at
WHERE step_run.status NOT IN ('SUCCESS', 'SKIPPED')

-- name: finish_execution
UPDATE execution e SET status = r.status, finished_at = now(), error = r.error
FROM json_to_recordset(%(rows)s::json) AS r (id uuid, status text, error jsonb)
WHERE e.id = r.id AND e.status IN ('PENDING', 'RUNNING')
RETURNING e.id::text, e.status
