-- 0008: the W3C trace context of an event (automate.tracing): the traceparent of the span that emitted it,
-- published as the record's `traceparent` header by the relay and by Debezium (an additional placement of
-- the EventRouter). NULL when the emitter had no trace.
ALTER TABLE automate_outbox ADD COLUMN traceparent text;
