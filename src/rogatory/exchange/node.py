"""This node's unlocked material for the federation: identity, keys, store and log."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pyrage
from cryptography.hazmat.primitives.asymmetric import ed25519

from rogatory.custody.log import CustodyLog
from rogatory.custody.note import ALG_ED25519, format_vkey
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, key_path, load_age_identity, load_signing_key
from rogatory.package.card import message_key_name
from rogatory.store.database import Database


@dataclass
class FederationNode:
    """What sending and receiving need: the home, the database, the custody log and
    the passphrase that unlocks the message, age and TLS keys (loaded on first use).

    Raises (on first use of a key):
        KeyMaterialError: a key cannot be unlocked.
    """

    home: NodeHome
    db: Database
    log: CustodyLog
    passphrase: bytes | None
    _message: tuple[tuple[int, int, int], ed25519.Ed25519PrivateKey, str] | None = field(
        default=None, repr=False
    )

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.home.config.identity.node_id

    def message_signer(self) -> tuple[ed25519.Ed25519PrivateKey, str]:
        """``(message key, kid)`` in force now. A long-running server reloads the key
        when the key file changes (after ``rogatory node rotate-key``)."""
        path = key_path(self.home.keys_dir, KeyPurpose.MESSAGE, protected=False)
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:  # mid-rotation: keep the key loaded, if any
            if self._message is not None:
                return self._message[1], self._message[2]
            raise
        if self._message is None or self._message[0] != stamp:
            key = load_signing_key(self.home.keys_dir, KeyPurpose.MESSAGE, self.passphrase)
            kid = format_vkey(
                message_key_name(self.node_id), ALG_ED25519, key.public_key().public_bytes_raw()
            )
            self._message = (stamp, key, kid)
        return self._message[1], self._message[2]

    @property
    def message_key(self) -> ed25519.Ed25519PrivateKey:
        """The current message-signing key."""
        return self.message_signer()[0]

    @property
    def kid(self) -> str:
        """The message key's vkey (C2SP signed-note form), used as the JWS ``kid``."""
        return self.message_signer()[1]

    @cached_property
    def age_identity(self) -> pyrage.x25519.Identity:
        """This node's age identity (decrypts messages and packages sent to it)."""
        return load_age_identity(self.home.keys_dir, self.passphrase)
