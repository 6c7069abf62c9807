-- 0002: cheaper runtime writes (measured: docs/pipeline.md, "What one event costs").

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
