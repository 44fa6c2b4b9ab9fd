"""Message envelopes: sealed to the recipient's age key, opened by ours (agefile)."""

from __future__ import annotations

import datetime as dt

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from rogatory.errors import MessageRefusedError
from rogatory.exchange.envelope import Message, MessageType, open_envelope, seal


def _sealed(recipient: pyrage.x25519.Identity) -> tuple[bytes, ed25519.Ed25519PrivateKey]:
    key = ed25519.Ed25519PrivateKey.generate()
    message = Message(MessageType("request"), "nl.x", "jp.x", {"text": "please preserve"})
    _signed, envelope = seal(message, key, "kid-1", str(recipient.to_public()))
    return envelope, key


def test_a_sealed_message_opens_with_the_recipients_key() -> None:
    jp = pyrage.x25519.Identity.generate()
    envelope, key = _sealed(jp)
    opened = open_envelope(envelope, jp, lambda sender, kid, when: key.public_key(), "jp.x")
    assert opened.message.body == {"text": "please preserve"} and opened.kid == "kid-1"


@pytest.mark.parametrize(
    "damage",
    [
        lambda e, other: pyrage.encrypt(b"x", [other.to_public()]),  # for another node
        lambda e, other: e[:-1],  # truncated
        lambda e, other: (
            b"age-encryption.org/v1\n-> x " + b"a" * 200_000 + b"\n\n---"
        ),  # huge header line
        lambda e, other: b"not age at all",
    ],
    ids=["other key", "truncated", "long header line", "not age"],
)
def test_an_envelope_that_does_not_decrypt_is_refused_with_the_check(damage) -> None:  # type: ignore[no-untyped-def]
    jp, other = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    envelope, key = _sealed(jp)
    with pytest.raises(MessageRefusedError) as caught:
        open_envelope(
            damage(envelope, other),
            jp,
            lambda *a: key.public_key(),
            "jp.x",
            now=dt.datetime.now(dt.UTC),
        )
    assert caught.value.check == "decryption"
