-- What the Debezium publisher needs of the database: the publication it reads and its replication slot.

-- name: publication_exists
SELECT 1 FROM pg_publication WHERE pubname = %(name)s

-- name: create_publication
-- Inserts only: the CDC trigger's deletes (and any update) never reach Debezium, which keeps an existing
-- publication in filtered mode. ({name} is an identifier, filled in by the store.)
CREATE PUBLICATION {name} FOR TABLE public.automate_outbox WITH (publish = 'insert')

-- name: slot_active
SELECT active FROM pg_replication_slots WHERE slot_name = %(slot)s
