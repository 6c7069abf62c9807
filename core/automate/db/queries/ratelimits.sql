-- Token buckets shared by every runtime worker. A taker takes a token now, even one not there yet: the
-- bucket goes below zero and the taker waits until its token has been earned (-tokens / rate seconds),
-- so takers from any number of workers are spaced at the rate, in the order they took. A taker whose
-- wait would pass max_wait takes nothing (the queue does not grow with callers who will not call).

-- name: create_bucket
INSERT INTO rate_limit (key, tokens, updated_at) VALUES (%(key)s, %(burst)s, clock_timestamp())
ON CONFLICT (key) DO NOTHING

-- name: take_token
-- Returns (tokens after, whether a token was taken, when): `when` identifies this take for give_back.
WITH earned AS (
    SELECT least(%(burst)s::double precision,
                 tokens + extract(epoch FROM clock_timestamp() - updated_at) * %(rate)s) AS tokens
    FROM rate_limit WHERE key = %(key)s FOR UPDATE
), decided AS (
    SELECT tokens, tokens - 1 >= -%(max_wait)s * %(rate)s AS granted FROM earned
)
UPDATE rate_limit r
SET tokens = d.tokens - CASE WHEN d.granted THEN 1 ELSE 0 END, updated_at = clock_timestamp()
FROM decided d
WHERE r.key = %(key)s
RETURNING r.tokens, d.granted, r.updated_at

-- name: give_back_token
-- A taker that will not call after all (it was cancelled) returns its token, unless someone took after
-- it: their waits were counted behind this one, and a token back would let two of them go at once.
UPDATE rate_limit SET tokens = tokens + 1 WHERE key = %(key)s AND updated_at = %(taken_at)s
