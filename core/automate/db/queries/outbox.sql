-- Queries of the transactional outbox: emit_event's writes, the relay's claims, the reaper.
-- Placeholders are psycopg's %(name)s, which Django's cursors accept too.

-- name: insert_event
INSERT INTO automate_outbox (id, tenant, aggregatetype, aggregateid, type, payload, dedupe_key, created_at,
                             traceparent)
VALUES (%(id)s::uuid, %(tenant)s, %(topic)s, %(key)s, %(type)s, %(payload)s, %(dedupe_key)s, %(created_at)s,
        %(traceparent)s)

-- name: insert_event_deduped
-- Claims the dedupe key and writes the row in one statement; returns nothing when the key was taken
-- (a concurrent claimer holds the key until it commits; ON CONFLICT waits for it).
WITH claim AS (
    INSERT INTO automate_event_dedupe (tenant, dedupe_key, event_id)
    VALUES (%(tenant)s, %(dedupe_key)s, %(id)s::uuid)
    ON CONFLICT (tenant, dedupe_key) DO NOTHING
    RETURNING event_id
)
INSERT INTO automate_outbox (id, tenant, aggregatetype, aggregateid, type, payload, dedupe_key, created_at,
                             traceparent)
SELECT event_id, %(tenant)s, %(topic)s, %(key)s, %(type)s, %(payload)s, %(dedupe_key)s, %(created_at)s,
       %(traceparent)s
FROM claim
RETURNING id::text

-- name: find_deduped
SELECT event_id::text FROM automate_event_dedupe WHERE tenant = %(tenant)s AND dedupe_key = %(dedupe_key)s

-- name: claim_batch
-- Due pending rows, oldest first (read in the order of automate_outbox_claimable only as far as the
-- limit); rows another relay holds are skipped, not waited for.
WITH picked AS (
    SELECT id FROM automate_outbox
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, created_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE automate_outbox o
SET status = 'claimed', lease_owner = %(owner)s, claimed_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s), attempts = o.attempts + 1
WHERE o.id IN (SELECT id FROM picked)  -- (IN, not a join: the join was planned as a scan of the whole table)
RETURNING o.id::text, o.tenant, o.aggregatetype, o.aggregateid, o.type, o.payload, o.created_at,
          o.attempts, o.dedupe_key, o.traceparent

-- name: hold_batch
-- The relay's claim: due pending rows, oldest first, locked by the claiming transaction until it commits
-- (rows another relay holds are skipped). Nothing is written until the batch is settled.
SELECT o.ctid::text, o.id::text, o.tenant, o.aggregatetype, o.aggregateid, o.type, o.payload, o.created_at,
       o.attempts, o.dedupe_key, o.traceparent
FROM automate_outbox o
WHERE o.status = 'pending' AND o.next_attempt_at <= now()
ORDER BY o.next_attempt_at, o.created_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: delete_held
-- Published rows of a held batch, by their physical address (stable while the transaction holds them).
DELETE FROM automate_outbox WHERE ctid = ANY(%(ctids)s::tid[])

-- name: fail_held
-- Rows of a held batch Kafka refused for good (e.g. above a size limit): kept, marked failed, never
-- claimed again (the claim reads pending rows only), so the rows after them go on.
UPDATE automate_outbox
SET status = 'failed', attempts = attempts + 1, last_error = %(error)s
WHERE ctid = ANY(%(ctids)s::tid[])

-- name: retry_held
UPDATE automate_outbox
SET attempts = attempts + 1, next_attempt_at = %(next_attempt_at)s, last_error = %(error)s
WHERE ctid = ANY(%(ctids)s::tid[])

-- name: vacuum
-- The claim reads the claimable index from its oldest end, where published rows leave dead entries
-- until a vacuum; autovacuum visits a database about once a minute, so the relay vacuums as it goes.
-- (TRUNCATE false: truncating the table's empty end would lock out emit_event while it waits.)
VACUUM (SKIP_LOCKED, TRUNCATE false) automate_outbox

-- name: listen
-- The relay's wake-up call: the statement trigger of use_relay notifies at the commit of every insert.
LISTEN automate_outbox

-- name: mark_success
-- Published: the row has done its work; deleting it keeps the table small.
DELETE FROM automate_outbox
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'claimed' AND lease_owner = %(owner)s

-- name: mark_retry
UPDATE automate_outbox
SET status = 'pending', next_attempt_at = %(next_attempt_at)s, last_error = %(error)s,
    lease_owner = NULL, claimed_at = NULL, lease_expires_at = NULL
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'claimed' AND lease_owner = %(owner)s

-- name: mark_failed
UPDATE automate_outbox
SET status = 'failed', last_error = %(error)s, lease_owner = NULL, lease_expires_at = NULL
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'claimed' AND lease_owner = %(owner)s

-- name: reap_stale
-- Claimed rows whose lease ran out, or that were claimed longer ago than the stale threshold: their
-- relay died or hangs. Back to pending, so any relay publishes them (a duplicate keeps its event id).
UPDATE automate_outbox
SET status = 'pending', lease_owner = NULL, claimed_at = NULL, lease_expires_at = NULL,
    last_error = 'reaped: lease of ' || coalesce(lease_owner, '?') || ' expired'
WHERE status = 'claimed'
  AND (lease_expires_at < now() OR claimed_at < now() - make_interval(secs => %(stale_seconds)s))

-- name: backlog
SELECT status, count(*) FROM automate_outbox GROUP BY status

-- name: waiting
-- The rows the relay still owes Kafka, and the age in seconds of the oldest (created_at is UTC).
SELECT count(*), extract(epoch FROM (now() AT TIME ZONE 'utc') - min(created_at))::float8
FROM automate_outbox WHERE status IN ('pending', 'claimed')

-- name: use_debezium
-- Debezium reads each insert from the WAL, so the row can go in the same transaction: one statement-level
-- trigger deletes what the statement inserted (emit_event itself stays a single INSERT).
DROP TRIGGER IF EXISTS automate_outbox_notify ON automate_outbox;
CREATE OR REPLACE FUNCTION automate_outbox_cdc_cleanup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM automate_outbox o USING inserted i WHERE o.id = i.id;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER automate_outbox_cdc_cleanup AFTER INSERT ON automate_outbox
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION automate_outbox_cdc_cleanup();

-- name: use_relay
-- The relay keeps rows until published and wakes on this notification (polling is the fallback).
DROP TRIGGER IF EXISTS automate_outbox_cdc_cleanup ON automate_outbox;
CREATE OR REPLACE FUNCTION automate_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('automate_outbox', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER automate_outbox_notify AFTER INSERT ON automate_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION automate_outbox_notify();

-- name: current_publisher
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'automate_outbox_cdc_cleanup') THEN 'debezium'
    WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'automate_outbox_notify') THEN 'relay'
END
