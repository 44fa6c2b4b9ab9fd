"""Custody events: the canonical serialisation must stay byte for byte what docs/CUSTODY.md says."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Any

import pytest

from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind, canonical_json
from rogatory.errors import CustodyError

# An event's statement text as Rogatory wrote it before canonical_json was optimised:
# non-ASCII kept as UTF-8, escapes only where JSON requires them, keys sorted by code point.
GOLDEN_TEXT = (
    '{"actor":{"role":"examiner","user":"Insp. Ünal Çelik"},"case":"NL-2026/Ω-7",'
    '"details":{"alpha":{"a":"","b":"x"},"e":2,"item":7,'
    '"zeta":[true,false,null,-3,1180591620717411303424],"é":1},'
    '"id":"3b241101-e2bb-4255-8caf-4136c566a962","node":"nl.police-cybercrime",'
    '"note":"tab\\there, quote \\" backslash \\\\ and 日本語 \u2028 emoji 🙂","previous":41,'
    '"purpose":"MLA request 2026-17 (Budapest Convention Art. 29)",'
    '"subject":{"id":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",'
    '"kind":"evidence"},"time":"2026-11-30T09:15:02.123456Z","type":"acquisition","v":1}\n'
)


def golden_event() -> CustodyEvent:
    return CustodyEvent(
        event_type=EventType.ACQUISITION,
        subject_kind=SubjectKind.EVIDENCE,
        subject_id="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        node="nl.police-cybercrime",
        actor=Actor("Insp. Ünal Çelik", "examiner"),
        time=dt.datetime(2026, 11, 30, 9, 15, 2, 123456, tzinfo=dt.UTC),
        case="NL-2026/Ω-7",
        purpose="MLA request 2026-17 (Budapest Convention Art. 29)",
        note='tab\there, quote " backslash \\ and 日本語 \u2028 emoji 🙂',
        previous=41,
        details={
            "item": 7,
            "zeta": [True, False, None, -3, 2**70],
            "alpha": {"b": "x", "a": ""},
            "é": 1,
            "e": 2,
        },
        event_id="3b241101-e2bb-4255-8caf-4136c566a962",
    )


def test_event_statement_text_is_byte_identical() -> None:
    assert golden_event().canonical_text() == GOLDEN_TEXT
    assert canonical_json(golden_event().to_json()) == GOLDEN_TEXT[:-1].encode("utf-8")


class Colour(StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**64),
        "",
        '\x00\x1f\x7f"\\/ é 🙂',
        [],
        {},
        [[[]], {"": None}],
        {"b": 1, "a": [1, "x", {"d": False, "c": True}], "A": {}, "é": "é", "\u00ff": 0},
        {"kind": Colour.RED, "list": [Colour.RED]},
    ],
)
def test_canonical_json_is_the_documented_json_dumps_form(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "floating-point"),
        ({"a": [1, {"b": 0.0}]}, "floating-point"),
        ({1: "x"}, "keys must be strings"),
        ({"a": (1, 2)}, "may not hold tuple"),
        ([{"x"}], "may not hold set"),
        ({"a": b"bytes"}, "may not hold bytes"),
        ([1, 2.0, object()], "floating-point"),  # the first bad value, depth first
    ],
)
def test_canonical_json_refuses_what_it_cannot_hold(value: Any, message: str) -> None:
    with pytest.raises(CustodyError, match=message):
        canonical_json(value)
