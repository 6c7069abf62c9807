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
import tempfile
from pathlib import Path

from automate.config import Settings
from automate.errors import ConfigurationError

__all__ = ["Keys", "add_primary_key", "ensure_key_file", "key_file", "load_keys", "remove_key", "retire_keys",
           "write_keys"]


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

    def rotate_one(self, ciphertext: bytes, what: str) -> bytes:
        """The same value, encrypted under the primary key.

        Raises:
            ConfigurationError: No configured key opens it (``what`` names it in the message).
        """
        from cryptography.fernet import InvalidToken

        try:
            return self.cipher.rotate(ciphertext)
        except InvalidToken:
            raise ConfigurationError(f"no secret key of {self.source} opens secret {what}: put the key it "
                                     "was written under back, or set the secret again") from None


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


def _read_file_keys(path: Path) -> list[bytes]:
    return [line.strip().encode() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]


def write_keys(path: Path, keys: list[bytes]) -> None:
    """Replace the key file: owner-readable only, written whole to a file of its own and synced, then
    renamed into place (a crash leaves the old file or the new one, never a part)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(b"".join(key + b"\n" for key in keys))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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

    new = Fernet.generate_key()
    write_keys(path, [new, *_read_file_keys(path)])
    return Keys.key_id(new)


def remove_key(path: Path, key_id: str) -> None:
    """Take key ``key_id`` out of the key file (a rotation that failed before using it)."""
    write_keys(path, [key for key in _read_file_keys(path) if Keys.key_id(key) != key_id])


def retire_keys(path: Path, *, keep: str) -> list[str]:
    """Leave only the key ``keep`` (an id) in the key file; returns the ids of those removed."""
    found = _read_file_keys(path)
    kept = [key for key in found if Keys.key_id(key) == keep]
    if not kept:
        raise ConfigurationError(f"the key file {path} no longer holds key {keep}; nothing was removed")
    write_keys(path, kept[:1])
    return [Keys.key_id(key) for key in found if Keys.key_id(key) != keep]
