import pytest

from rogatory.cases.model import HandlingCode, check_reference, offence_categories, parse_offence
from rogatory.errors import UsageError


def test_offence_categories_cover_budapest_articles_2_to_11_with_sources() -> None:
    cats = offence_categories()
    assert list(cats) == [f"BC-{n}" for n in range(2, 12)]
    assert cats["BC-8"].title == "Computer-related fraud"
    for c in cats.values():
        assert c.source.startswith("https://") and c.as_of


@pytest.mark.parametrize("text", ["BC-8", "bc8", "Art. 8", "art 8", "8"])
def test_offence_spellings(text: str) -> None:
    assert parse_offence(text) == "BC-8"


@pytest.mark.parametrize("text", ["BC-1", "12", "fraud", ""])
def test_unknown_offence_lists_choices(text: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_offence(text)
    assert "BC-2 (Illegal access)" in exc.value.hint


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("amber+strict", HandlingCode.AMBER_STRICT),
        ("TLP:RED", HandlingCode.RED),
        ("clear", HandlingCode.CLEAR),
    ],
)
def test_tlp_parsing(text: str, code: HandlingCode) -> None:
    assert HandlingCode.parse(text) is code


def test_tlp_white_is_tlp_1() -> None:
    with pytest.raises(UsageError, match=r"TLP 1\.0"):
        HandlingCode.parse("WHITE")


@pytest.mark.parametrize("ref", ["", " NL", "NL 1", "a" * 129, "NL;DROP"])
def test_bad_references(ref: str) -> None:
    with pytest.raises(UsageError):
        check_reference(ref)
