-- LLM calls: the response cache, budgets per automation, and their usage (UTC days).

-- name: get_cached
SELECT response FROM llm_cache WHERE tenant = %(tenant)s AND key = %(key)s AND expires_at > now()

-- name: put_cached
INSERT INTO llm_cache (tenant, key, response, expires_at)
VALUES (%(tenant)s, %(key)s, %(response)s, now() + make_interval(secs => %(ttl_s)s))
ON CONFLICT (tenant, key) DO UPDATE
SET response = excluded.response, created_at = now(), expires_at = excluded.expires_at

-- name: purge_cached
-- A bounded sweep of expired answers (each write does one, so the table does not grow without end).
DELETE FROM llm_cache WHERE ctid IN (SELECT ctid FROM llm_cache WHERE expires_at <= now() LIMIT 100)

-- name: put_budget
INSERT INTO llm_budget (tenant, automation, period, usd_limit, token_limit)
VALUES (%(tenant)s, %(automation)s, %(period)s, %(usd_limit)s, %(token_limit)s)
ON CONFLICT (tenant, automation) DO UPDATE
SET period = excluded.period, usd_limit = excluded.usd_limit, token_limit = excluded.token_limit,
    updated_at = now()

-- name: delete_budget
DELETE FROM llm_budget WHERE tenant = %(tenant)s AND automation = %(automation)s

-- name: list_budgets
-- Each budget of the tenant with what its current period has used.
SELECT b.automation, b.period, b.usd_limit, b.token_limit,
       coalesce(sum(u.input_tokens + u.output_tokens), 0), coalesce(sum(u.cost_usd), 0)
FROM llm_budget b
LEFT JOIN llm_usage u
  ON u.tenant = b.tenant AND u.automation = b.automation
 AND u.day >= CASE WHEN b.period = 'day' THEN (now() AT TIME ZONE 'UTC')::date
                   ELSE date_trunc('month', now() AT TIME ZONE 'UTC')::date END
WHERE b.tenant = %(tenant)s AND (%(automation)s::text IS NULL OR b.automation = %(automation)s)
GROUP BY b.automation, b.period, b.usd_limit, b.token_limit
ORDER BY b.automation

-- name: add_usage
-- One call's usage, added atomically (concurrent calls of the automation add up, none is lost).
INSERT INTO llm_usage (tenant, automation, day, requests, input_tokens, output_tokens, cost_usd)
VALUES (%(tenant)s, %(automation)s, (now() AT TIME ZONE 'UTC')::date, 1, %(input_tokens)s,
        %(output_tokens)s, %(cost_usd)s)
ON CONFLICT (tenant, automation, day) DO UPDATE
SET requests = llm_usage.requests + 1,
    input_tokens = llm_usage.input_tokens + excluded.input_tokens,
    output_tokens = llm_usage.output_tokens + excluded.output_tokens,
    cost_usd = llm_usage.cost_usd + excluded.cost_usd

-- name: usage
SELECT automation, day, requests, input_tokens, output_tokens, cost_usd
FROM llm_usage
WHERE tenant = %(tenant)s AND day >= %(since)s AND (%(automation)s::text IS NULL OR automation = %(automation)s)
ORDER BY day DESC, automation
LIMIT 1000

-- name: lock_budget
-- The budget's row, locked until the transaction ends: reservations of one automation queue here, so
-- each one sees the usage and reservations committed before it (see budgets.reserve).
SELECT period, usd_limit, token_limit FROM llm_budget
WHERE tenant = %(tenant)s AND automation = %(automation)s
FOR UPDATE

-- name: budget_spent
-- Tokens and USD of the period: what was charged and what live reservations may still spend, read in one
-- statement (one snapshot: a reservation settled meanwhile is counted once, as usage or as reserved).
SELECT (SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM llm_usage
        WHERE tenant = %(tenant)s AND automation = %(automation)s AND day >= %(since)s)
     + (SELECT coalesce(sum(tokens), 0) FROM llm_reservation
        WHERE tenant = %(tenant)s AND automation = %(automation)s AND expires_at > now()),
       (SELECT coalesce(sum(cost_usd), 0) FROM llm_usage
        WHERE tenant = %(tenant)s AND automation = %(automation)s AND day >= %(since)s)
     + (SELECT coalesce(sum(usd), 0) FROM llm_reservation
        WHERE tenant = %(tenant)s AND automation = %(automation)s AND expires_at > now())

-- name: add_reservation
INSERT INTO llm_reservation (id, tenant, automation, tokens, usd, expires_at)
VALUES (%(id)s, %(tenant)s, %(automation)s, %(tokens)s, %(usd)s, now() + make_interval(secs => %(ttl_s)s))

-- name: delete_reservation
DELETE FROM llm_reservation WHERE id = %(id)s

-- name: purge_reservations
-- A bounded sweep of expired reservations (a crashed worker's).
DELETE FROM llm_reservation WHERE id IN (SELECT id FROM llm_reservation WHERE expires_at <= now() LIMIT 100)
