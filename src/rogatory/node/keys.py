"""A node's keys: one key per purpose, never one key for two.

C2SP signed-note forbids using one key for two signature types, so the custody
log, the witness cosignatures and the messages each have their own Ed25519 key.
Payload encryption uses an age X25519 identity (C2SP age), and the node's
server a TLS key with a self-signed certificate, pinned by partners.

Files (in ``<home>/keys``, mode 0600):

==========================  ==================================================
``log.ed25519.pem``         custody-log checkpoint signing key, PKCS#8 PEM
``witness.ed25519.pem``     witness cosigning key (C2SP tlog-cosignature), PKCS#8 PEM
``message.ed25519.pem``     message / envelope signing key, PKCS#8 PEM
``age.key``                 age identity ``AGE-SECRET-KEY-1…`` (or ``age.key.age``
                            when protected: the identity encrypted with an age
                            passphrase, so the standard ``age -d`` can open it)
``tls.key.pem``             TLS private key (ECDSA P-256), PKCS#8 PEM
``tls.cert.pem``            self-signed X.509 certificate for the TLS key
``public.json``             the public half of every key (no secret; read by
                            ``node show`` without unlocking anything)
==========================  ==================================================

When a passphrase is set, PEM keys are encrypted with the ``cryptography``
library's best available PKCS#8 encryption and the age identity with age's
scrypt passphrase recipient.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyrage
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from rogatory.errors import KeyMaterialError


class KeyPurpose(StrEnum):
    """What a key is for. Each purpose has its own key."""

    LOG = "log"
    WITNESS = "witness"
    MESSAGE = "message"
    AGE = "age"
    TLS = "tls"


SIGNING_PURPOSES = (KeyPurpose.LOG, KeyPurpose.WITNESS, KeyPurpose.MESSAGE)

_PEM_FILES = {
    KeyPurpose.LOG: "log.ed25519.pem",
    KeyPurpose.WITNESS: "witness.ed25519.pem",
    KeyPurpose.MESSAGE: "message.ed25519.pem",
    KeyPurpose.TLS: "tls.key.pem",
}
PUBLIC_FILE = "public.json"
MIN_PASSPHRASE = 8
AGE_PLAIN = "age.key"
AGE_PROTECTED = "age.key.age"
TLS_CERT = "tls.cert.pem"
TLS_VALIDITY_DAYS = 825


@dataclass(frozen=True)
class PublicKeyInfo:
    """The public half of one key, as a partner or a court sees it.

    Attributes:
        purpose: the key's purpose.
        algorithm: ``Ed25519``, ``X25519 (age)`` or ``ECDSA P-256``.
        public: Ed25519 keys: base64 of the 32 raw bytes; age: the ``age1…``
            recipient; TLS: the certificate's SHA-256 fingerprint, hex.
        fingerprint: SHA-256 of the raw public key bytes (TLS: of the DER
            certificate), lower-case hex, 64 characters.
    """

    purpose: KeyPurpose
    algorithm: str
    public: str
    fingerprint: str


def key_path(keys_dir: Path, purpose: KeyPurpose, *, protected: bool) -> Path:
    """Path of the private key file for ``purpose``."""
    if purpose is KeyPurpose.AGE:
        return keys_dir / (AGE_PROTECTED if protected else AGE_PLAIN)
    return keys_dir / _PEM_FILES[purpose]


def _write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file with mode 0600, atomically; never overwrite."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    if path.exists():
        tmp.unlink()
        raise KeyMaterialError(f"{path} already exists", "keys are never overwritten")
    os.replace(tmp, path)


def _pem_encryption(passphrase: bytes | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase)
    return serialization.NoEncryption()


def generate_keys(keys_dir: Path, node_id: str, passphrase: bytes | None) -> list[KeyPurpose]:
    """Create every missing key of the node in ``keys_dir``.

    Existing keys are left as they are (re-running ``init`` never overwrites).

    Args:
        keys_dir: directory for the key files; created with mode 0700.
        node_id: used as the TLS certificate's common name and SAN.
        passphrase: protects every private key when given (UTF-8 bytes).

    Returns:
        The purposes whose keys were created now.
    """
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise KeyMaterialError(
            f"the passphrase is too short ({len(passphrase)} characters)",
            f"use at least {MIN_PASSPHRASE} characters; a phrase of several words is best",
        )
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    created: list[KeyPurpose] = []
    protected = bool(passphrase)
    enc = _pem_encryption(passphrase)
    for purpose in SIGNING_PURPOSES:
        path = key_path(keys_dir, purpose, protected=protected)
        if path.exists():
            continue
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        _write_secret(path, pem)
        created.append(purpose)
    age_path = key_path(keys_dir, KeyPurpose.AGE, protected=protected)
    if (
        not age_path.exists()
        and not key_path(keys_dir, KeyPurpose.AGE, protected=not protected).exists()
    ):
        identity = pyrage.x25519.Identity.generate()
        secret = (str(identity) + "\n").encode()
        if passphrase:
            secret = pyrage.passphrase.encrypt(secret, passphrase.decode())
        _write_secret(age_path, secret)
        created.append(KeyPurpose.AGE)
    tls_path = key_path(keys_dir, KeyPurpose.TLS, protected=protected)
    if not tls_path.exists():
        tls_key = ec.generate_private_key(ec.SECP256R1())
        cert = _self_signed_certificate(tls_key, node_id)
        _write_secret(
            tls_path,
            tls_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
            ),
        )
        cert_path = keys_dir / TLS_CERT
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        created.append(KeyPurpose.TLS)
    if created or not (keys_dir / PUBLIC_FILE).exists():
        infos = _public_keys_from_private(keys_dir, passphrase)
        data = [dataclasses.asdict(i) | {"purpose": str(i.purpose)} for i in infos]
        tmp = keys_dir / (PUBLIC_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(keys_dir / PUBLIC_FILE)
    return created


def _self_signed_certificate(key: ec.EllipticCurvePrivateKey, node_id: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=TLS_VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(node_id)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def rotate_signing_key(keys_dir: Path, purpose: KeyPurpose, passphrase: bytes | None) -> Path:
    """Replace the Ed25519 key for ``purpose`` with a new one; keep the old file as
    ``<name>.retired-<UTC time>`` (old signatures must stay verifiable).

    Returns:
        The path of the retired key file.

    Raises:
        KeyMaterialError: the current key cannot be unlocked (wrong passphrase).
    """
    if purpose not in SIGNING_PURPOSES:
        raise KeyMaterialError(f"only Ed25519 signing keys rotate here, not {purpose}", "")
    load_signing_key(keys_dir, purpose, passphrase)  # proves the caller may use the current key
    path = key_path(keys_dir, purpose, protected=False)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = path.with_name(f"{path.name}.retired-{stamp}")
    os.replace(path, retired)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _pem_encryption(passphrase)
    )
    _write_secret(path, pem)
    (keys_dir / PUBLIC_FILE).unlink(missing_ok=True)
    infos = _public_keys_from_private(keys_dir, passphrase)
    data = [dataclasses.asdict(i) | {"purpose": str(i.purpose)} for i in infos]
    (keys_dir / PUBLIC_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return retired


def retired_signing_keys(
    keys_dir: Path, purpose: KeyPurpose, passphrase: bytes | None
) -> list[tuple[dt.datetime, ed25519.Ed25519PrivateKey]]:
    """The retired keys of ``purpose`` with their retirement time (UTC), oldest first.

    Raises:
        KeyMaterialError: a retired key file cannot be unlocked.
    """
    current = key_path(keys_dir, purpose, protected=False)
    found: list[tuple[dt.datetime, ed25519.Ed25519PrivateKey]] = []
    for path in sorted(keys_dir.glob(current.name + ".retired-*")):
        stamp = path.name.rsplit(".retired-", 1)[1]
        try:
            when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        found.append((when, _load_ed25519(path, passphrase)))
    return found


def load_signing_key(
    keys_dir: Path, purpose: KeyPurpose, passphrase: bytes | None
) -> ed25519.Ed25519PrivateKey:
    """Load and unlock the Ed25519 key for ``purpose``.

    Raises:
        KeyMaterialError: the file is missing, has permissions wider than 0600,
            is not an Ed25519 key, or the passphrase is missing or wrong.
    """
    return _load_ed25519(key_path(keys_dir, purpose, protected=False), passphrase)


def _load_ed25519(path: Path, passphrase: bytes | None) -> ed25519.Ed25519PrivateKey:
    data = _read_secret(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as exc:
        raise KeyMaterialError(
            f"{path.name} is protected by a passphrase",
            "set ROGATORY_PASSPHRASE or ROGATORY_PASSPHRASE_FILE, or pass --passphrase-file",
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(
            f"cannot unlock {path}: wrong passphrase or damaged key file",
            "check the passphrase; restore the key file from your backup if it is damaged",
        ) from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyMaterialError(f"{path} is not an Ed25519 key", "restore it from your backup")
    return key


def load_age_identity(keys_dir: Path, passphrase: bytes | None) -> pyrage.x25519.Identity:
    """Load and unlock the node's age X25519 identity.

    Raises:
        KeyMaterialError: missing file, wrong permissions, wrong or missing passphrase.
    """
    protected = key_path(keys_dir, KeyPurpose.AGE, protected=True)
    if protected.exists():
        text = unlock_protected_identity(_read_secret(protected), passphrase, protected).decode()
    else:
        text = _read_secret(key_path(keys_dir, KeyPurpose.AGE, protected=False)).decode()
    try:
        return pyrage.x25519.Identity.from_str(text.strip())
    except pyrage.IdentityError as exc:
        raise KeyMaterialError(
            "the age identity file is damaged", "restore it from backup"
        ) from exc


def unlock_protected_identity(raw: bytes, passphrase: bytes | None, path: Path) -> bytes:
    """The plaintext of a passphrase-protected age identity file (``age.key.age``,
    age with an scrypt recipient, as ``init --protect`` writes it).

    Raises:
        KeyMaterialError: no passphrase given, or it does not open the file.
    """
    if not passphrase:
        raise KeyMaterialError(
            f"{path} is protected by a passphrase",
            "set ROGATORY_PASSPHRASE or ROGATORY_PASSPHRASE_FILE, or pass --passphrase-file",
        )
    try:
        return bytes(pyrage.passphrase.decrypt(raw, passphrase.decode()))
    except pyrage.DecryptError as exc:
        raise KeyMaterialError(
            f"cannot unlock {path}: wrong passphrase", "check the passphrase"
        ) from exc


def _read_secret(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError as exc:
        raise KeyMaterialError(
            f"key file {path} is missing", "run 'rogatory init' or restore the key from backup"
        ) from exc
    if mode & 0o077:
        raise KeyMaterialError(
            f"key file {path} is readable by others (mode {mode:o})",
            f"run: chmod 600 {path}",
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(
            f"cannot read key file {path}: {exc.strerror}", "restore the key file from your backup"
        ) from exc


def public_keys(keys_dir: Path, passphrase: bytes | None = None) -> list[PublicKeyInfo]:
    """Public halves of all the node's keys, in purpose order.

    Read from ``public.json`` (no passphrase needed); for a home made before that
    file existed, derived from the private keys (protected keys need ``passphrase``).
    """
    path = keys_dir / PUBLIC_FILE
    if path.exists():
        try:
            return [
                PublicKeyInfo(
                    KeyPurpose(d["purpose"]), d["algorithm"], d["public"], d["fingerprint"]
                )
                for d in json.loads(path.read_text())
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyMaterialError(
                f"{path} is damaged", "delete it and run 'rogatory init' again"
            ) from exc
    return _public_keys_from_private(keys_dir, passphrase)


def public_key_bytes(keys_dir: Path, purpose: KeyPurpose) -> bytes:
    """Raw 32-byte public key of an Ed25519 purpose (log, witness, message)."""
    for info in public_keys(keys_dir):
        if info.purpose is purpose:
            return base64.b64decode(info.public)
    raise KeyMaterialError(f"no {purpose} key in {keys_dir}", "run 'rogatory init' to create it")


def _public_keys_from_private(keys_dir: Path, passphrase: bytes | None) -> list[PublicKeyInfo]:
    out: list[PublicKeyInfo] = []
    for purpose in SIGNING_PURPOSES:
        raw = load_signing_key(keys_dir, purpose, passphrase).public_key().public_bytes_raw()
        out.append(
            PublicKeyInfo(
                purpose, "Ed25519", base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest()
            )
        )
    recipient = str(load_age_identity(keys_dir, passphrase).to_public())
    out.append(
        PublicKeyInfo(
            KeyPurpose.AGE,
            "X25519 (age)",
            recipient,
            hashlib.sha256(recipient.encode()).hexdigest(),
        )
    )
    cert = x509.load_pem_x509_certificate((keys_dir / TLS_CERT).read_bytes())
    fp = cert.fingerprint(hashes.SHA256()).hex()
    out.append(PublicKeyInfo(KeyPurpose.TLS, "ECDSA P-256", fp, fp))
    return out


def is_protected(keys_dir: Path) -> bool:
    """Whether the node's keys were created with a passphrase."""
    return key_path(keys_dir, KeyPurpose.AGE, protected=True).exists()
