"""Node: one agency's installation — identity, keys, and its home directory."""

from rogatory.node.home import NodeHome, default_home, read_passphrase
from rogatory.node.identity import ROLES, NodeIdentity

__all__ = ["ROLES", "NodeHome", "NodeIdentity", "default_home", "read_passphrase"]
