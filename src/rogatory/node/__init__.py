"""Node: one agency's installation — identity, keys, and its home directory.

The names below are loaded on first use (PEP 562), so that the command line can
import :mod:`rogatory.node.identity` (its role list) at start-up without the key
and crypto modules that :mod:`rogatory.node.home` brings.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rogatory.node.home import NodeHome, default_home, read_passphrase
    from rogatory.node.identity import ROLES, NodeIdentity

_WHERE = {
    "NodeHome": "rogatory.node.home",
    "default_home": "rogatory.node.home",
    "read_passphrase": "rogatory.node.home",
    "ROLES": "rogatory.node.identity",
    "NodeIdentity": "rogatory.node.identity",
}

__all__ = ["ROLES", "NodeHome", "NodeIdentity", "default_home", "read_passphrase"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rogatory.node' has no attribute {name!r}")
