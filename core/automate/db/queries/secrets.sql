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
SELECT id::text, ciphertext, key_id FROM secret ORDER BY id FOR UPDATE

-- name: reencrypt_secret
UPDATE secret SET ciphertext = %(ciphertext)s, key_id = %(key_id)s, updated_at = now() WHERE id = %(id)s::uuid
