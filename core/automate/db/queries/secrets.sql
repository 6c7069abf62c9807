-- Secrets of the `$secret:` backend: Fernet ciphertexts, never values; who may read them.

-- name: get_secret
SELECT ciphertext, key_id, scopes FROM secret WHERE tenant = %(tenant)s AND name = %(name)s

-- name: put_secret
INSERT INTO secret (id, tenant, name, ciphertext, key_id, scopes)
VALUES (%(id)s::uuid, %(tenant)s, %(name)s, %(ciphertext)s, %(key_id)s, %(scopes)s)
ON CONFLICT (tenant, name) DO UPDATE
SET ciphertext = excluded.ciphertext, key_id = excluded.key_id, scopes = excluded.scopes, updated_at = now()

-- name: delete_secret
DELETE FROM secret WHERE tenant = %(tenant)s AND name = %(name)s

-- name: list_secrets
SELECT name, scopes, key_id, updated_at FROM secret WHERE tenant = %(tenant)s ORDER BY name

-- name: lock_all_secrets
-- Every secret, locked until the transaction ends (rotation re-encrypts them all in one transaction).
SELECT id::text, tenant, name, ciphertext, key_id FROM secret ORDER BY id FOR UPDATE

-- Rotation against writers: a writer holds the rotation lock shared for its transaction (and reads the
-- keys inside it); a rotation holds it exclusively for its whole run, so no secret is written under a
-- key the rotation is about to retire.

-- name: lock_rotation
SELECT pg_advisory_lock(%(lock)s)

-- name: unlock_rotation
SELECT pg_advisory_unlock(%(lock)s)

-- name: share_rotation_lock
SELECT pg_advisory_xact_lock_shared(%(lock)s)

-- name: count_under_other_keys
SELECT count(*) FROM secret WHERE key_id <> %(key_id)s

-- name: reencrypt_secret
UPDATE secret SET ciphertext = %(ciphertext)s, key_id = %(key_id)s, updated_at = now() WHERE id = %(id)s::uuid
