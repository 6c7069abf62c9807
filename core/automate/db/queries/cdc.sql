-- What the Debezium publisher needs of the database: the publication it reads, its replication slot, the
-- installation's identity and the publisher watch's probe.

-- name: publication_exists
SELECT 1 FROM pg_publication WHERE pubname = %(name)s

-- name: create_publication
-- Inserts only: the CDC trigger's deletes (and any update) never reach Debezium, which keeps an existing
-- publication in filtered mode. ({name} is an identifier, filled in by the store.)
CREATE PUBLICATION {name} FOR TABLE public.automate_outbox, public.automate_publisher_probe
    WITH (publish = 'insert')

-- name: publication_has_probe
SELECT 1 FROM pg_publication_tables
WHERE pubname = %(name)s AND schemaname = 'public' AND tablename = 'automate_publisher_probe'

-- name: add_probe_to_publication
-- A publication made before 0007 gains the probe table. ({name}: an identifier, filled in by the store.)
ALTER PUBLICATION {name} ADD TABLE public.automate_publisher_probe

-- name: drop_publication
DROP PUBLICATION IF EXISTS {name}

-- name: slot_active
SELECT active FROM pg_replication_slots WHERE slot_name = %(slot)s AND database = current_database()

-- name: logical_slot_here
-- A logical slot of pgoutput on this database (a slot of another database is another installation's).
SELECT 1 FROM pg_replication_slots
WHERE slot_name = %(slot)s AND database = current_database() AND plugin = 'pgoutput'

-- name: slot_state
-- (Slot names are the server's, databases its own: every query here names this database's slot only.)
-- The slot's reader and how far behind the server's WAL its confirmed position is (bytes).
SELECT active, active_pid, confirmed_flush_lsn::text,
       pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
FROM pg_replication_slots WHERE slot_name = %(slot)s AND database = current_database()

-- name: drop_slot
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
WHERE slot_name = %(slot)s AND database = current_database() AND NOT active

-- name: terminate_slot_reader
-- The walsender still holding the slot for a reader that stopped reading (a half-open connection).
SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
WHERE slot_name = %(slot)s AND database = current_database() AND active

-- name: installation
-- What names this database whatever host name a client reaches it by: the cluster's system identifier
-- (made by initdb) and the database's oid.
SELECT system_identifier::text, (SELECT oid FROM pg_database WHERE datname = current_database())::text,
       current_database()
FROM pg_control_system()

-- name: probe_position
-- Where the WAL is before the probe's insert: a slot confirmed at or past it has read the probe.
SELECT pg_current_wal_insert_lsn()::text

-- name: insert_probe
INSERT INTO automate_publisher_probe DEFAULT VALUES RETURNING seq

-- name: delete_probe
DELETE FROM automate_publisher_probe WHERE seq = %(seq)s

-- name: try_watch_lock
-- One publisher watch acts per installation: a session-level advisory lock, kept while it runs.
SELECT pg_try_advisory_lock(%(key)s)

-- name: ping
-- A round trip on the connection holding the watch's lock: it fails once that connection is gone.
SELECT 1
