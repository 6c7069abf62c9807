-- The benchmark's measure of the machine: single-row commits on a table of its own.

-- name: create_commit_table
CREATE TEMP TABLE bench_commit (id bigint, at timestamptz DEFAULT now())

-- name: insert_commit
INSERT INTO bench_commit (id) VALUES (%(n)s)
