"""The transport's clients over TLS with client certificates (mTLS), against a broker that requires them.

The broker is the project's own Kafka (its jars, its server.properties template) with an SSL client
listener (``ssl.client.auth=required``), started by this module on free ports with certificates made here:
a CA, the broker's certificate for 127.0.0.1 and the client's (its key encrypted, so the key password is
used too). The local stack has no TLS mode; this is what an operator's cluster looks like.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from automate.config import Settings, project_root
from automate.errors import ErrorCodes, TransportError
from automate.kafka_security import java_properties, scram_credential_argument
from automate.stack.base import find_java
from automate.stack.services.connect import _escaped
from automate.transport import broker_ready, consumer, create_topics, producer, take

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _certificate(name: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
                 *, ca: bool = False) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _ca(folder: Path, name: str) -> tuple[x509.Name, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(name, key, None, ca=True)
    (folder / f"{name}.pem").write_bytes(_pem(cert))
    return cert.subject, key


def _leaf(folder: Path, name: str, issuer: tuple[x509.Name, rsa.RSAPrivateKey],
          password: bytes | None = None) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / f"{name}.pem").write_bytes(_pem(_certificate(name, key, issuer)))
    (folder / f"{name}.key").write_bytes(_key(key, password))
    # Kafka's PEM key store: the key and its certificate in one file.
    (folder / f"{name}-keystore.pem").write_bytes(_key(key) + _pem(_certificate(name, key, issuer)))


@pytest.fixture(scope="module")
def tls(stack: Settings) -> Iterator[tuple[Settings, Path, str]]:
    """Settings of a client with its certificate, on a broker of the module's own that requires one; its
    certificates' folder; the address of the broker's second listener, SASL_SSL (PLAIN, SCRAM-SHA-256)."""
    root = project_root()
    assert root is not None
    home = root / ".automate" / "test-homes" / f"tls-{uuid.uuid4().hex[:8]}"
    certs = home / "certs"
    certs.mkdir(parents=True)
    ca = _ca(certs, "ca")
    _ca(certs, "other-ca")
    _leaf(certs, "broker", ca)
    _leaf(certs, "client", ca, password=b"client-key-pw")
    port, controller, sasl_port = _free_port(), _free_port(), _free_port()
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    security = "\n".join([
        "ssl.keystore.type=PEM", f"ssl.keystore.location={certs / 'broker-keystore.pem'}",
        "ssl.truststore.type=PEM", f"ssl.truststore.location={certs / 'ca.pem'}",
        "ssl.client.auth=required", "ssl.endpoint.identification.algorithm=https",
        # A second client listener (these lines override the template's): TLS without a client
        # certificate, and SASL/PLAIN or SASL/SCRAM-SHA-256 to log in.
        f"listeners=SSL://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=SSL://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL",
        "listener.name.sasl_ssl.ssl.client.auth=none",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
        f'listener.name.sasl_ssl.plain.sasl.jaas.config={plain} required user_plain-user="plain-pw";',
        f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram} required;"])
    props = home / "server.properties"
    props.write_text(Template((root / "infra" / "kafka" / "server.properties.tmpl").read_text()).substitute(
        node_id=1, host="127.0.0.1", broker_port=port, controller_port=controller, log_dirs=home / "data",
        num_partitions=1, client_protocol="SSL", controller_protocol="PLAINTEXT", security=security))
    java, classpath = str(find_java(17, stack.java_home)), f"{stack.home / 'lib' / 'kafka'}/*"
    cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "a")
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{port}", topic_prefix=f"tls{uuid.uuid4().hex[:6]}",
                        kafka_security_protocol="SSL", kafka_ssl_ca_location=certs / "ca.pem",
                        kafka_ssl_certificate_location=certs / "client.pem",
                        kafka_ssl_key_location=certs / "client.key",
                        kafka_ssl_key_password="client-key-pw")  # type: ignore[arg-type]
    broker: subprocess.Popen[bytes] | None = None
    try:
        user = scram_credential_argument("SCRAM-SHA-256", "scram-user", "scram-pw")
        subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "--standalone",
                        f"--cluster-id={cluster}", "--config", str(props), f"--add-scram={user}"],
                       check=True, capture_output=True, timeout=120)
        with (home / "kafka.log").open("wb") as log:
            broker = subprocess.Popen(
                [java, "-Xmx512m", "-XX:+UseSerialGC", "-cp", classpath, "kafka.Kafka", str(props)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while not broker_ready(settings.bootstrap_servers, timeout=2.0, settings=settings):
            assert broker.poll() is None, (home / "kafka.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (home / "kafka.log").read_text()[-3000:]
            time.sleep(0.5)
        yield settings, certs, f"127.0.0.1:{sasl_port}"
    finally:
        if broker is not None:
            broker.kill()
            broker.wait(30)
        shutil.rmtree(home, ignore_errors=True)


def test_clients_with_a_certificate_produce_and_consume(tls: tuple[Settings, Path, str]) -> None:
    settings, _, _ = tls
    topic = settings.topic("mtls")
    assert create_topics(settings, [topic], partitions=1) == [topic]
    writer = producer(settings)
    writer.produce(topic, b"over mTLS", key=b"k")
    assert writer.flush(30) == 0
    reader = consumer(settings, f"{settings.topic_prefix}-reader")
    try:
        reader.subscribe([topic])
        deadline = time.monotonic() + 30
        got: list[bytes | None] = []
        while not got and time.monotonic() < deadline:
            got = [m.value() for m in take(reader, 10, 1.0) if not m.error()]
        assert got == [b"over mTLS"]
    finally:
        reader.close()


def test_a_client_without_a_certificate_is_refused(tls: tuple[Settings, Path, str]) -> None:
    settings, _, _ = tls
    anonymous = Settings(**{**settings.model_dump(), "kafka_ssl_certificate_location": None,
                            "kafka_ssl_key_location": None, "kafka_ssl_key_password": None})
    assert not broker_ready(settings.bootstrap_servers, timeout=3.0, settings=anonymous)
    with pytest.raises(TransportError):
        create_topics(anonymous, [settings.topic("anonymous")], partitions=1, timeout=5)
    plaintext = Settings(kafka_bootstrap=settings.bootstrap_servers)
    assert not broker_ready(plaintext.bootstrap_servers, timeout=3.0, settings=plaintext)


def test_a_broker_signed_by_another_ca_is_not_trusted(tls: tuple[Settings, Path, str]) -> None:
    settings, certs, _ = tls
    wrong_ca = Settings(**{**settings.model_dump(), "kafka_ssl_ca_location": certs / "other-ca.pem"})
    assert not broker_ready(settings.bootstrap_servers, timeout=3.0, settings=wrong_ca)


def test_java_clients_use_the_same_settings(tls: tuple[Settings, Path, str], stack: Settings,
                                            tmp_path: Path) -> None:
    """What Connect's worker gets (java_properties, the inline PEM key store) works for a Java client."""
    settings, _, _ = tls
    topic = settings.topic("java")
    create_topics(settings, [topic], partitions=1)
    java, classpath = str(find_java(17, stack.java_home)), f"{stack.home / 'lib' / 'kafka'}/*"

    def describe(client: Settings) -> subprocess.CompletedProcess[str]:
        config = tmp_path / f"client-{uuid.uuid4().hex[:6]}.properties"
        config.write_text("\n".join(f"{k}={_escaped(v)}" for k, v in java_properties(client).items()))
        return subprocess.run([java, "-cp", classpath, "kafka.admin.ConfigCommand", "--bootstrap-server",
                               settings.bootstrap_servers, "--command-config", str(config), "--describe",
                               "--entity-type", "topics", "--entity-name", topic],
                              capture_output=True, text=True, timeout=120)

    found = describe(settings)
    assert found.returncode == 0, found.stdout + found.stderr
    assert topic in found.stdout
    assert "client-key-pw" not in found.stdout + found.stderr
    anonymous = Settings(**{**settings.model_dump(), "kafka_ssl_certificate_location": None,
                            "kafka_ssl_key_location": None, "kafka_ssl_key_password": None,
                            "kafka_bootstrap": settings.bootstrap_servers})
    refused = describe(anonymous)
    assert refused.returncode != 0
    assert "SSL" in refused.stdout + refused.stderr, refused.stdout + refused.stderr


@pytest.mark.parametrize(("mechanism", "username", "password"), [
    ("PLAIN", "plain-user", "plain-pw"), ("SCRAM-SHA-256", "scram-user", "scram-pw")])
def test_sasl_over_tls(tls: tuple[Settings, Path, str], mechanism: str, username: str, password: str) -> None:
    settings, certs, sasl_bootstrap = tls
    given: dict[str, Any] = {"kafka_bootstrap": sasl_bootstrap, "topic_prefix": settings.topic_prefix,
                             "kafka_security_protocol": "SASL_SSL", "kafka_ssl_ca_location": certs / "ca.pem",
                             "kafka_sasl_mechanism": mechanism, "kafka_sasl_username": username,
                             "kafka_sasl_password": password}
    client = Settings(**given)
    topic = settings.topic(f"sasl-{mechanism.lower()}")
    assert create_topics(client, [topic], partitions=1) == [topic]
    writer = producer(client)
    writer.produce(topic, mechanism.encode())
    assert writer.flush(30) == 0
    wrong = Settings(**{**client.model_dump(), "kafka_sasl_password": "wrong-pw"})
    with pytest.raises(TransportError) as refused:
        create_topics(wrong, [settings.topic("never")], partitions=1, timeout=5)
    assert refused.value.code == ErrorCodes.KAFKA_AUTH
    assert "wrong-pw" not in str(refused.value)
