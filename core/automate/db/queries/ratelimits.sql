-- Token buckets shared by every runtime worker. A taker takes a token now, even one not there yet: the
-- bucket goes below zero and the taker waits until its token has been earned (-tokens / rate seconds),
-- so takers from any number of workers are spaced at the rate, in the order they took.

-- name: take_token
INSERT INTO rate_limit AS r (key, tokens, updated_at)
VALUES (%(key)s, %(burst)s - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE
SET tokens = least(%(burst)s::double precision,
                   r.tokens + extract(epoch FROM clock_timestamp() - r.updated_at) * %(rate)s) - 1,
    updated_at = clock_timestamp()
RETURNING tokens

-- name: give_back_token
-- A taker that will not call after all (it would wait too long, or it was cancelled) returns its token.
UPDATE rate_limit SET tokens = tokens + 1 WHERE key = %(key)s
