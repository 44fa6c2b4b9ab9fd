import pytest

from rogatory.errors import UsageError
from rogatory.node.identity import NodeIdentity, check_node_id, normalise_country


def test_identity_normalises_country_and_roles() -> None:
    ident = NodeIdentity.create(
        "nl.police-cybercrime", "nl", " Politie ", ["police", "contact-24-7", "police"]
    )
    assert ident.country == "NL"
    assert ident.agency == "Politie"
    assert ident.roles == ["police", "contact-24-7"]


@pytest.mark.parametrize("code", ["XX", "NLD", "", "1A"])
def test_unknown_country_is_refused(code: str) -> None:
    with pytest.raises(UsageError, match="ISO 3166-1"):
        normalise_country(code)


@pytest.mark.parametrize(
    "node_id", ["NL.police", "nl-police", "nl.", "nl.-x", "nl.x-", "nl.a b", "nl." + "a" * 64]
)
def test_malformed_node_ids_are_refused(node_id: str) -> None:
    with pytest.raises(UsageError):
        check_node_id(node_id, "NL")


def test_node_id_must_carry_its_country() -> None:
    with pytest.raises(UsageError, match="does not start with the node's country code 'br'") as exc:
        check_node_id("nl.policia-federal", "BR")
    assert "br.policia-federal" in exc.value.hint


def test_unknown_role_names_the_choices() -> None:
    with pytest.raises(UsageError) as exc:
        NodeIdentity.create("nl.x", "NL", "A", ["sheriff"])
    assert "central-authority" in exc.value.hint
