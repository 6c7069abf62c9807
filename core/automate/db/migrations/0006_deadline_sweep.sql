-- 0006: the deadline sweeper (automate.runtime.sweeper) finds the executions past their deadline through
-- an index of the unfinished ones only, read in deadline order: a sweep reads the rows it fails and stops,
-- instead of scanning and sorting the whole execution table every few seconds on every runtime worker.
-- (The price: a status change out of PENDING/RUNNING is no HOT update any more, see 0002; an update of the
-- context alone still is.)
CREATE INDEX execution_deadline ON execution (deadline_at) WHERE status IN ('PENDING', 'RUNNING');
