-- 0002: the relay's claims and the runtime's writes, measured (docs/outbox.md, docs/pipeline.md).

-- The claim orders by (next_attempt_at, created_at): with an index on next_attempt_at alone, every claim
-- sorted the whole backlog (all of a transaction's rows share next_attempt_at), so a claim cost grew
-- with the backlog. With both columns the claim reads its LIMIT rows in index order and stops.
DROP INDEX automate_outbox_claimable;
CREATE INDEX automate_outbox_claimable ON automate_outbox (next_attempt_at, created_at) WHERE status = 'pending';

-- Every status change of an execution added entries to all of its indexes, since this partial index
-- made `status` an indexed column (no HOT update possible). Nothing reads through it: unfinished
-- executions are found by id.
DROP INDEX execution_unfinished;
-- Room on each page for an execution's updated version (HOT updates stay on the page).
ALTER TABLE execution SET (fillfactor = 80);
-- The foreign key checked and row-locked the execution for every step result written, the costliest
-- part of recording a step; the runtime writes step results only for executions it has just created or
-- read, and executions are never deleted by the product.
ALTER TABLE step_run DROP CONSTRAINT step_run_execution_id_fkey;
