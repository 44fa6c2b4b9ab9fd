"""The age file format, version 1, for X25519 recipients: streaming, in constant memory.

Implements https://c2sp.org/age (``age-encryption.org/v1``), binary files
only (no ASCII armour), with the X25519 recipient type, the only kind of
key Rogatory makes. Every cryptographic primitive comes from
``cryptography`` (OpenSSL): X25519 (RFC 7748), HKDF-SHA-256 (RFC 5869),
HMAC-SHA-256 (RFC 2104) and ChaCha20-Poly1305 (RFC 8439). Key strings are
Bech32 (BIP-173) from the ``bech32`` package. What is ours is only the file
layout: the header (version line, recipient stanzas, MAC) and the STREAM
payload (16-byte nonce, then 64 KiB chunks, each sealed with a 96-bit
nonce of an 88-bit big-endian counter and a last-chunk flag byte).

The files are the same as those of the ``age`` tool and of pyrage, byte for
byte in layout: either side decrypts the other's (tests prove both ways,
and the C2SP/CCTV test vectors check the decryptor, including every
malformed-header and damaged-payload case).

Why not pyrage for the payloads: its calls hold the GIL and its encryption
runs at about 0.74 CPU-s/GiB here, where OpenSSL's ChaCha20-Poly1305 through
``cryptography`` takes about 0.22 and releases the GIL, so an evidence
package is encrypted, hashed and written on both cores at once.

Streaming contract (decryption): :meth:`Decryptor.update` returns plaintext
only from chunks that have been authenticated, but a truncated or altered
file is only known bad at its end. A caller must treat everything returned
as untrusted until :meth:`Decryptor.finish` returned without raising.
"""

from __future__ import annotations

import base64
import functools
import hmac
import os
from collections.abc import Iterable, Iterator, Sequence

import bech32
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from rogatory.errors import RogatoryError

VERSION_LINE = b"age-encryption.org/v1"
CHUNK_SIZE = 64 * 1024
"""Plaintext bytes per STREAM chunk (the last one may be shorter)."""
TAG_SIZE = 16
ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
"""Bytes of the random payload nonce that follows the header."""
MAX_HEADER_SIZE = 1 << 20
"""A header longer than this (bytes) is refused: a hostile file cannot make us buffer more."""

_FILE_KEY_SIZE = 16
_X25519_LABEL = b"age-encryption.org/v1/X25519"
_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "age-secret-key-"
_COLUMNS = 64
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


class AgeError(RogatoryError):
    """An age file could not be encrypted or decrypted; ``message`` says which check failed.

    ``kind`` is one of the C2SP test-vector outcomes: ``"header failure"``
    (the header does not parse), ``"no match"`` (no stanza opens with the
    identities given: the file is for someone else), ``"HMAC failure"`` (the
    header was altered), ``"payload failure"`` (a chunk is altered, missing or
    truncated, or data follows the end), or ``"key"`` (a key string is invalid).
    ``released`` is the plaintext of the chunks that authenticated in the
    failing call before the failure, as the C2SP vectors count it.
    """

    def __init__(self, kind: str, message: str, hint: str = "", released: bytes = b"") -> None:
        super().__init__(f"age: {message}", hint)
        self.kind = kind
        self.released = released
        """Plaintext of chunks that authenticated in the failing call before the
        failure (untrusted, like everything the file released)."""


class NoMatchError(AgeError):
    """No recipient stanza of the file opens with the identities given."""

    def __init__(self) -> None:
        super().__init__(
            "no match", "no identity matched any of the recipients (the file is not for this key)"
        )


# --- keys -----------------------------------------------------------------


def _bech32_bytes(text: str, hrp: str, what: str) -> bytes:
    decoded_hrp, data = bech32.bech32_decode(text.strip())
    if decoded_hrp is None or data is None or decoded_hrp != hrp:
        raise AgeError("key", f"not an age {what}: {text[:12]}…")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None or len(raw) != 32:
        raise AgeError("key", f"not an age {what} (wrong length): {text[:12]}…")
    return bytes(raw)


def recipient_key(text: str) -> X25519PublicKey:
    """The X25519 public key of an age recipient string (``age1…``, Bech32).

    Raises:
        AgeError: ``text`` is not an age X25519 recipient (kind ``"key"``).
    """
    return X25519PublicKey.from_public_bytes(_bech32_bytes(text, _RECIPIENT_HRP, "recipient"))


def identity_key(text: str) -> X25519PrivateKey:
    """The X25519 private key of an age identity string (``AGE-SECRET-KEY-1…``, Bech32).

    Raises:
        AgeError: ``text`` is not an age X25519 identity (kind ``"key"``).
    """
    return X25519PrivateKey.from_private_bytes(_bech32_bytes(text, _IDENTITY_HRP, "identity"))


def as_identity(identity: object) -> X25519PrivateKey:
    """An X25519 key as is; else ``identity_key(str(identity))`` (strings, pyrage identities).

    Raises:
        AgeError: not an age X25519 identity (kind ``"key"``).
    """
    if isinstance(identity, X25519PrivateKey):
        return identity
    return _cached_identity_key(str(identity))


@functools.lru_cache(maxsize=8)
def _cached_identity_key(text: str) -> X25519PrivateKey:
    """:func:`identity_key` for the few identities a node uses over and over
    (every incoming message): Bech32 is decoded in pure Python."""
    return identity_key(text)


def _public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    """Canonical unpadded base64 (RFC 4648 §4, no ``=``, no stray bits), else ValueError."""
    if not _B64_CHARS.issuperset(text) or len(text) % 4 == 1:
        raise ValueError("not canonical base64")
    raw = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    if _b64(raw) != text:
        raise ValueError("not canonical base64")
    return raw


def _followed_chunks(
    pending: bytearray, data: bytes | bytearray | memoryview, size: int
) -> Iterator[bytes | memoryview]:
    """Cut ``pending + data`` into ``size``-byte chunks; yield each one that more bytes follow.

    Only such a chunk is known not to be the last of a STREAM (the last one is
    sealed with the last-chunk flag), so the rest, up to one whole chunk, is
    left in ``pending`` for the next call or the end of the file. A yielded
    ``memoryview`` is valid until the generator resumes.
    """
    view = memoryview(data).cast("B")
    if pending:
        take = size - len(pending)
        if len(view) <= take:
            pending += view
            return
        pending += view[:take]
        view = view[take:]
        yield bytes(pending)
        pending.clear()
    pos = 0
    while len(view) - pos > size:
        yield view[pos : pos + size]
        pos += size
    pending += view[pos:]


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


# --- encryption -----------------------------------------------------------


class Encryptor:
    """Encrypt one age file to X25519 recipients, fed in blocks of any size.

    Call :meth:`start` once for the header and payload nonce, :meth:`update`
    with the plaintext in order, then :meth:`finish`; write every returned
    ``bytes`` in order. At most one chunk (64 KiB) is held back.

    Args:
        recipients: age recipient strings (``age1…``), at least one.

    Raises:
        AgeError: no recipient, or one is not an age X25519 recipient.
    """

    def __init__(self, recipients: Iterable[str]) -> None:
        keys = [recipient_key(r) for r in recipients]
        if not keys:
            raise AgeError("key", "no recipient to encrypt to")
        file_key = os.urandom(_FILE_KEY_SIZE)
        lines = [VERSION_LINE]
        for key in keys:
            ephemeral = X25519PrivateKey.generate()
            share = _public_bytes(ephemeral.public_key())
            wrap = _hkdf(ephemeral.exchange(key), share + _public_bytes(key), _X25519_LABEL)
            body = ChaCha20Poly1305(wrap).encrypt(bytes(12), file_key, None)
            lines.append(b"-> X25519 " + _b64(share))
            encoded = _b64(body)
            lines.extend(encoded[i : i + _COLUMNS] for i in range(0, len(encoded), _COLUMNS))
            if len(encoded) % _COLUMNS == 0:
                lines.append(b"")
        header = b"\n".join(lines) + b"\n---"
        mac = hmac.digest(_hkdf(file_key, b"", b"header"), header, "sha256")
        nonce = os.urandom(NONCE_SIZE)
        self._head = header + b" " + _b64(mac) + b"\n" + nonce
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._pending = bytearray()
        self._started = False

    def start(self) -> bytes:
        """The header and the 16-byte payload nonce: the first bytes of the file."""
        self._started = True
        return self._head

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Encrypt what ``data`` completes; returns the chunks sealed so far (may be empty)."""
        assert self._started, "call start() first"
        out = []
        for chunk in _followed_chunks(self._pending, data, CHUNK_SIZE):
            out.append(self._aead.encrypt(_nonce(self._counter, False), chunk, None))
            self._counter += 1
        return b"".join(out)

    def finish(self) -> bytes:
        """Seal the last chunk (empty only if the whole plaintext is empty)."""
        assert self._started, "call start() first"
        last = self._aead.encrypt(_nonce(self._counter, True), bytes(self._pending), None)
        self._pending = bytearray()
        return last


def encrypt_bytes(data: bytes, recipients: Iterable[str]) -> bytes:
    """A whole age file holding ``data``, for ``recipients`` (``age1…`` strings).

    Raises:
        AgeError: a recipient is not an age X25519 recipient.
    """
    enc = Encryptor(recipients)
    return enc.start() + enc.update(data) + enc.finish()


# --- decryption -----------------------------------------------------------


def _header_failure(why: str) -> AgeError:
    return AgeError("header failure", f"the header is malformed ({why})")


def _find_header_end(buf: bytes | bytearray, start: int) -> int:
    """Where the header's ``\n---`` line begins in ``buf``, searching from ``start``; -1 if not yet.

    Raises:
        AgeError: kind ``"header failure"``: ``buf`` does not start like an age
            file, or no header end within :data:`MAX_HEADER_SIZE` bytes.
    """
    first = VERSION_LINE + b"\n"
    if buf[: len(first)] != first[: len(buf)]:
        if bytes(buf[:19]) == b"age-encryption.org/":
            raise AgeError("header failure", "unsupported age version (not age-encryption.org/v1)")
        raise _header_failure("not an age file: the first line is not age-encryption.org/v1")
    end = buf.find(b"\n---", start, MAX_HEADER_SIZE)
    if end < 0 and len(buf) >= MAX_HEADER_SIZE:
        raise _header_failure(f"no end within {MAX_HEADER_SIZE} bytes")
    return end


def _parse_header(
    buf: bytes | bytearray, end: int
) -> tuple[list[tuple[list[bytes], bytes]], bytes, bytes, int] | None:
    """Parse the header at the start of ``buf``, whose ``\n---`` line starts at ``end``.

    Returns:
        ``None`` if ``buf`` does not yet hold the whole MAC line; else
        (stanzas as (arguments, body), the bytes the MAC covers, the MAC, header length).

    Raises:
        AgeError: kind ``"header failure"``: the header is malformed.
    """
    fail = _header_failure
    footer_end = buf.find(b"\n", end + 4, end + 4 + 64)
    if footer_end < 0:
        if len(buf) < end + 4 + 64:
            return None
        raise fail("the MAC line is too long")
    covered = bytes(buf[: end + 4])
    footer = bytes(buf[end + 4 : footer_end])
    lines = covered[:-4].split(b"\n")
    if lines[0] != VERSION_LINE:
        if lines[0].startswith(b"age-encryption.org/"):
            raise AgeError("header failure", f"unsupported age version {lines[0][:40]!r}")
        raise fail("not an age file: the first line is not age-encryption.org/v1")
    if not footer.startswith(b" "):
        raise fail("bad MAC line")
    try:
        mac = _unb64(footer[1:])
    except ValueError:
        raise fail("the MAC is not canonical base64") from None
    if len(mac) != 32:
        raise fail("the MAC has the wrong length")
    stanzas: list[tuple[list[bytes], bytes]] = []
    i = 1
    while i < len(lines):
        line = lines[i]
        if not line.startswith(b"-> "):
            raise fail("a line that is not a stanza")
        args = line[3:].split(b" ")
        if not args or any(not a or any(c < 33 or c > 126 for c in a) for a in args):
            raise fail("a stanza with an empty or invalid argument")
        body = []
        i += 1
        while True:
            if i >= len(lines):
                raise fail("a stanza without its final body line")
            chunk = lines[i]
            i += 1
            if len(chunk) > _COLUMNS:
                raise fail("a stanza body line longer than 64 columns")
            body.append(chunk)
            if len(chunk) < _COLUMNS:
                break
        try:
            stanzas.append((args, _unb64(b"".join(body))))
        except ValueError:
            raise fail("a stanza body that is not canonical base64") from None
    if not stanzas:
        raise fail("no recipient stanza")
    if any(args[0] == b"scrypt" for args, _ in stanzas) and len(stanzas) > 1:
        raise fail("an scrypt stanza must be the only one")
    return stanzas, covered, mac, footer_end + 1


def _unwrap_x25519(args: list[bytes], body: bytes, identity: X25519PrivateKey) -> bytes | None:
    """The file key if this X25519 stanza opens with ``identity``; None if it is for another key.

    Raises:
        AgeError: kind ``"header failure"``: the stanza is malformed or its share is of low order.
    """
    if len(args) != 2:
        raise AgeError("header failure", "an X25519 stanza with the wrong number of arguments")
    try:
        share = _unb64(args[1])
    except ValueError:
        raise AgeError(
            "header failure", "an X25519 stanza share that is not canonical base64"
        ) from None
    if len(share) != 32:
        raise AgeError("header failure", "an X25519 stanza share of the wrong length")
    if len(body) != _FILE_KEY_SIZE + TAG_SIZE:
        raise AgeError("header failure", "an X25519 stanza body of the wrong length")
    try:
        secret = identity.exchange(X25519PublicKey.from_public_bytes(share))
    except ValueError:  # OpenSSL refuses an all-zero shared secret (low-order point)
        raise AgeError("header failure", "an X25519 stanza with a low-order share") from None
    salt = share + _public_bytes(identity.public_key())
    try:
        return ChaCha20Poly1305(_hkdf(secret, salt, _X25519_LABEL)).decrypt(bytes(12), body, None)
    except InvalidTag:
        return None


class Decryptor:
    """Decrypt one age file with X25519 identities, fed in blocks of any size.

    Call :meth:`update` with the file's bytes in order, then :meth:`finish`.
    Each call returns plaintext of authenticated chunks; the whole is good
    only once :meth:`finish` returned (see the module's streaming contract).
    At most one chunk (64 KiB + 16) plus the block just given is buffered.

    Args:
        identities: age identity strings (``AGE-SECRET-KEY-1…``) or X25519 keys.

    Raises:
        AgeError: an identity string is invalid (kind ``"key"``).
    """

    def __init__(self, identities: Sequence[object]) -> None:
        self._identities = [as_identity(i) for i in identities]
        self._buf = bytearray()
        self._aead: ChaCha20Poly1305 | None = None
        self._file_key: bytes | None = None
        self._counter = 0
        self._done = False
        self._header_end = -1
        self._scan_from = 0

    def _read_header(self) -> bool:
        if self._header_end < 0:
            self._header_end = _find_header_end(self._buf, self._scan_from)
            if self._header_end < 0:
                self._scan_from = max(0, len(self._buf) - 3)  # no rescans: linear in the header
                return False
        parsed = _parse_header(self._buf, self._header_end)
        if parsed is None:
            return False
        stanzas, covered, mac, length = parsed
        file_key = None
        for args, body in stanzas:
            if args[0] != b"X25519":
                continue
            for identity in self._identities:
                file_key = _unwrap_x25519(args, body, identity)
                if file_key is not None:
                    break
            if file_key is not None:
                break
        if file_key is None:
            raise NoMatchError()
        if not hmac.compare_digest(
            hmac.digest(_hkdf(file_key, b"", b"header"), covered, "sha256"), mac
        ):
            raise AgeError(
                "HMAC failure", "the header's MAC does not match (the header was altered)"
            )
        self._file_key = file_key
        del self._buf[:length]
        return True

    def _payload_fail(self, why: str, released: Sequence[bytes] = ()) -> AgeError:
        self._done = True
        return AgeError(
            "payload failure",
            why,
            "the file is damaged, truncated or was altered",
            b"".join(released),
        )

    def _open(self, chunk: memoryview | bytes, last: bool, released: Sequence[bytes] = ()) -> bytes:
        assert self._aead is not None
        try:
            return self._aead.decrypt(_nonce(self._counter, last), chunk, None)
        except InvalidTag:
            raise self._payload_fail(
                f"chunk {self._counter} of the payload does not authenticate", released
            ) from None

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Feed the next bytes of the file; returns the plaintext they complete (may be empty).

        Raises:
            AgeError: the header fails (``header failure``, ``no match``,
                ``HMAC failure``) or a chunk does not authenticate, or data
                follows the last chunk (``payload failure``).
        """
        if self._done:
            if data:
                raise self._payload_fail("data after the end of the age file")
            return b""
        buf = self._buf
        if self._aead is None:
            buf += data
            if self._file_key is None and not self._read_header():
                return b""
            if len(buf) < NONCE_SIZE:
                return b""
            assert self._file_key is not None
            self._aead = ChaCha20Poly1305(
                _hkdf(self._file_key, bytes(buf[:NONCE_SIZE]), b"payload")
            )
            data = bytes(buf[NONCE_SIZE:])
            buf.clear()
        out: list[bytes] = []
        for chunk in _followed_chunks(buf, data, ENCRYPTED_CHUNK_SIZE):
            out.append(self._open_middle(chunk, out))
        return b"".join(out)

    def _open_middle(self, chunk: memoryview | bytes, released: list[bytes]) -> bytes:
        """Open a chunk that more bytes follow; it must not be the last.

        Raises:
            AgeError: it does not authenticate, or it is a last chunk (data follows the end).
        """
        assert self._aead is not None
        try:
            plain = self._aead.decrypt(_nonce(self._counter, False), chunk, None)
        except InvalidTag:
            last = self._open(chunk, True, released)
            raise self._payload_fail(
                "data after the end of the age file", [*released, last]
            ) from None
        self._counter += 1
        return plain

    def finish(self) -> bytes:
        """The file has ended: open the last chunk and check nothing is missing.

        Returns:
            The plaintext of the last chunk.

        Raises:
            AgeError: the file is truncated (in its header, nonce or payload),
                its last chunk does not authenticate or is empty where it must
                not be (``payload failure``), or the header failed.
        """
        if self._done:
            raise self._payload_fail("the age file was already finished")
        if self._file_key is None:
            if (
                self._buf
                and self._buf.find(b"\n") < 0
                and not VERSION_LINE.startswith(bytes(self._buf[:21]))
            ):
                raise AgeError("header failure", "not an age file")
            raise AgeError("header failure", "the file ends inside its header (truncated)")
        if self._aead is None:
            raise AgeError("header failure", "the file ends before its payload nonce (truncated)")
        buf = bytes(self._buf)
        self._buf = bytearray()
        if not buf:
            raise self._payload_fail("the payload ends without its last chunk (truncated)")
        if len(buf) == TAG_SIZE and self._counter > 0:
            raise self._payload_fail("the last chunk is empty")
        if len(buf) == ENCRYPTED_CHUNK_SIZE:
            try:
                middle = self._aead.decrypt(_nonce(self._counter, False), buf, None)
            except InvalidTag:
                pass
            else:
                raise self._payload_fail(
                    "the payload ends without its last chunk (truncated)", [middle]
                )
        last = self._open(buf, True)
        self._done = True
        return last


def decrypt_bytes(data: bytes, identities: Sequence[object]) -> bytes:
    """The plaintext of the whole age file ``data``.

    Raises:
        AgeError: see :meth:`Decryptor.update` and :meth:`Decryptor.finish`.
    """
    dec = Decryptor(identities)
    return dec.update(data) + dec.finish()
