"""TLS: the server certificate (self-signed on first start unless one is configured), the SSL
context for the listener, and the certificate's SHA-256 fingerprint for pinning."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: A self-signed certificate is valid this long; it is made again when it has expired.
SELF_SIGNED_DAYS = 3650


class TlsError(Exception):
    """The certificate or key cannot be used; the message says which file and why."""


def self_signed_paths(data_dir: Path) -> tuple[Path, Path]:
    """Where the generated certificate and key live in the data folder."""
    folder = data_dir / "tls"
    return folder / "cert.pem", folder / "key.pem"


def ensure_self_signed(data_dir: Path, server_name: str) -> tuple[Path, Path]:
    """The data folder's self-signed certificate and key, made now if missing or expired."""
    cert_path, key_path = self_signed_paths(data_dir)
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
            return cert_path, key_path
    cert_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = sorted({server_name, socket.gethostname(), "localhost"})
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names if n]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def load_context(cert_path: Path, key_path: Path, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """A server SSL context with the certificate chain loaded (into ``context`` when given:
    that is how a reload reaches the running listener).

    A reload first tries the pair on a fresh context: OpenSSL swaps the certificate in before it
    notices a key that does not match, which would leave a live context unusable."""
    try:
        fresh = _new_context()
        fresh.load_cert_chain(cert_path, key_path)
        if context is None:
            return fresh
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use certificate {cert_path} with key {key_path}: {exc}") from None
    return context


def _new_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate (DER), as uppercase hex pairs joined by colons."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot read certificate {cert_path}: {exc}") from None
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
