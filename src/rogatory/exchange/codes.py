"""Message types and SIENA handling codes (Europol's H0–H3).

Plain enums without the crypto stack, so that the command line can name them in
its options without importing :mod:`rogatory.exchange.envelope` at start-up.
:mod:`rogatory.exchange.envelope` re-exports both.
"""

from __future__ import annotations

from enum import StrEnum


class MessageType(StrEnum):
    """What a message is."""

    REQUEST = "request"
    RESPONSE = "response"
    ACKNOWLEDGEMENT = "acknowledgement"
    ALERT = "alert"
    PACKAGE_OFFER = "package-offer"
    HIT_QUERY = "hit-query"


class HandlingCode(StrEnum):
    """SIENA handling codes (Europol): what the recipient may do with the content."""

    H0 = "H0"
    H1 = "H1"
    H2 = "H2"
    H3 = "H3"

    @property
    def meaning(self) -> str:
        """The code's meaning in one line."""
        return {
            "H0": "may be used for any purpose, including in court",
            "H1": "not to be used in court without the sender's consent",
            "H2": "not to be disseminated further without the sender's consent",
            "H3": "other restrictions, stated in the message",
        }[self.value]
