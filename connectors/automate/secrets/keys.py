"""The keys that encrypt ``$secret:`` values: where they come from, and rotating them.

Keys are Fernet keys (AES-128-CBC with HMAC-SHA256), the first one encrypting and every one decrypting
(MultiFernet), so that keys can rotate: a new key goes first, ``automate secrets rotate`` re-encrypts
every secret under it, and the old keys can then go. They come from ``AUTOMATE_SECRET_KEYS``
(comma-separated) or from a key file (``AUTOMATE_SECRET_KEY_FILE``, default ``<home>/conf/secret.keys``,
one key a line), which ``automate up`` creates for the local stack, readable by its owner only. Without
a key nothing is encrypted or decrypted: a clear ConfigurationError, never a plaintext.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from automate.config import Settings
from automate.errors import ConfigurationError

__all__ = ["Keys", "add_primary_key", "ensure_key_file", "key_file", "load_keys", "write_keys"]


def key_file(settings: Settings) -> Path:
    return settings.secret_key_file or settings.home / "conf" / "secret.keys"


class Keys:
    """The configured keys, the first encrypting; ``key_id`` names a key without revealing it."""

    def __init__(self, keys: list[bytes], source: str) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise ConfigurationError(f"no secret key in {source}")
        try:
            self._fernets = [Fernet(key) for key in keys]
        except ValueError:
            raise ConfigurationError(f"a secret key in {source} is not a Fernet key (32 url-safe base64 "
                                     "bytes, e.g. from `automate secrets rotate`)") from None
        self.cipher = MultiFernet(self._fernets)
        self.ids = [self.key_id(key) for key in keys]
        self.source = source

    @staticmethod
    def key_id(key: bytes) -> str:
        return hashlib.sha256(key.strip()).hexdigest()[:12]

    @property
    def primary_id(self) -> str:
        return self.ids[0]

    def encrypt(self, value: str) -> bytes:
        return self.cipher.encrypt(value.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        """Raises ConfigurationError when no configured key opens it (it was written under a key that was
        removed, or has been tampered with)."""
        from cryptography.fernet import InvalidToken

        try:
            return self.cipher.decrypt(ciphertext).decode()
        except InvalidToken:
            raise ConfigurationError(f"no secret key of {self.source} opens this secret: was its key "
                                     "removed before `automate secrets rotate`?") from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """The same value, encrypted under the primary key."""
        return self.cipher.rotate(ciphertext)


def load_keys(settings: Settings) -> Keys:
    """The keys of ``settings``.

    Raises:
        ConfigurationError: None configured, unreadable, or not Fernet keys.
    """
    if settings.secret_keys is not None:
        keys = [k.strip().encode() for k in settings.secret_keys.get_secret_value().split(",") if k.strip()]
        return Keys(keys, "AUTOMATE_SECRET_KEYS")
    path = key_file(settings)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigurationError(f"no secret key: set AUTOMATE_SECRET_KEYS or AUTOMATE_SECRET_KEY_FILE, or "
                                 f"create {path} (`automate up` does for the local stack)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the secret key file {path}: {exc}") from None
    return Keys([line.strip().encode() for line in text.splitlines() if line.strip()], str(path))


def write_keys(path: Path, keys: list[bytes]) -> None:
    """Replace the key file (owner-readable only, written whole, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"".join(key + b"\n" for key in keys))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_key_file(path: Path) -> bool:
    """Create ``path`` with one new key unless it exists; returns whether it was created."""
    from cryptography.fernet import Fernet

    if path.exists():
        return False
    write_keys(path, [Fernet.generate_key()])
    return True


def add_primary_key(path: Path) -> str:
    """Put a new key first in the key file (the old ones stay, to decrypt); returns its id."""
    from cryptography.fernet import Fernet

    old = [line.strip().encode() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    new = Fernet.generate_key()
    write_keys(path, [new, *old])
    return Keys.key_id(new)
