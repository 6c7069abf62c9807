"""Local protocol peers the demo starts for its connector workflow, and the tests use: an SMTP server
(aiosmtpd) requiring STARTTLS and AUTH, with a self-signed certificate, and AWS (moto in server mode).
They speak the real protocols to the real client libraries (smtplib, boto3). Needs the ``demo`` extra."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SmtpPeer", "free_port", "moto_server", "self_signed_certificate", "smtp_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's AWS in server mode on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def self_signed_certificate(directory: Any) -> tuple[str, str]:
    """(certificate file, key file) of a self-signed certificate for 127.0.0.1 and localhost."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(names, critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = Path(directory) / "smtp.crt", Path(directory) / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@dataclass
class SmtpPeer:
    host: str
    port: int
    ca_file: str
    messages: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@contextmanager
def smtp_server(directory: Any, *, user: str = "shop", password: str = "smtp-pass",
                starttls: bool = True) -> Iterator[SmtpPeer]:
    """aiosmtpd on loopback: STARTTLS required (a self-signed certificate, its CA file given back) and
    AUTH PLAIN with one user; keeps every message it accepts."""
    import ssl
    from email import message_from_bytes

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed_certificate(directory)
    peer = SmtpPeer("127.0.0.1", free_port(), cert)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            peer.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (isinstance(data, LoginPassword) and data.login.decode() == user
              and data.password.decode() == password)
        if ok:
            peer.logins.append(user)
        return AuthResult(success=ok, handled=False)  # (handled=True would leave the answer to us)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # PLAIN only: smtplib sends LOGIN's first answer with the command, which aiosmtpd does not read.
    options: dict[str, Any] = {"authenticator": authenticate, "auth_required": True,
                               "auth_exclude_mechanism": ["LOGIN"]}
    if starttls:
        options.update(tls_context=context, require_starttls=True)
    else:  # a server offering AUTH in the clear (the client must refuse to log in)
        options.update(auth_require_tls=False, auth_required=False)
    controller = Controller(Handler(), hostname=peer.host, port=peer.port, **options)
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()
