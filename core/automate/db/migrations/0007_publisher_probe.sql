-- 0007: the publisher watch (automate.publisher_watch) proves that Debezium reads the outbox's slot by
-- inserting a probe row here and waiting until the slot's confirmed position passes it. The row is deleted
-- in the same transaction, so the table stays empty; the publication carries only its insert, which the
-- connector drops before Kafka (a Filter transform). Readable as a heartbeat from psql too.
CREATE TABLE automate_publisher_probe (
    seq       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    probed_at timestamptz NOT NULL DEFAULT now()
);
