"""The node home: one directory holding a node's config, keys, database and blobs.

Layout::

    <home>/config.toml        node identity and settings (TOML)
    <home>/keys/              private keys, mode 0700 / files 0600 (see rogatory.node.keys)
    <home>/rogatory.sqlite3   the embedded database (unless ROGATORY_DATABASE_URL is set)
    <home>/blobs/             content-addressed evidence store

The home is ``--home``, else ``$ROGATORY_HOME``, else ``~/.rogatory``.

Unattended unlock (for ``rogatory serve`` and scripts): the passphrase comes
from ``--passphrase-file FILE``, else ``$ROGATORY_PASSPHRASE_FILE`` (a file of
mode 0600 or 0400 whose first line is the passphrase), else
``$ROGATORY_PASSPHRASE``.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from rogatory.errors import KeyMaterialError, NodeError, RogatoryError
from rogatory.node import keys
from rogatory.node.identity import NodeIdentity

CONFIG_NAME = "config.toml"
DEFAULT_ALGORITHMS = ["sha256", "sha1", "md5"]
SUPPORTED_ALGORITHMS = ("sha256", "sha1", "md5", "blake3")


def default_home() -> Path:
    """``$ROGATORY_HOME`` if set, else ``~/.rogatory``."""
    env = os.environ.get("ROGATORY_HOME")
    return Path(env).expanduser() if env else Path.home() / ".rogatory"


@dataclass
class NodeConfig:
    """Contents of ``config.toml``.

    Attributes:
        identity: the node's identity.
        created_at: when the node was initialised, UTC.
        database_url: SQLAlchemy URL; empty means the embedded SQLite file.
        blob_dir: blob store directory, relative to the home unless absolute.
        algorithms: digests computed at intake; ``sha256`` always first.
        protected: whether the keys are passphrase-protected.
        quorum: witness cosignatures a checkpoint needs: ``all``, ``none`` or a number k.
        checkpoint_interval: seconds between checkpoints while ``serve`` runs (when the log grew).
        url: the node's public HTTPS base URL as partners reach it (``https://host:port``),
            published in its node card; empty until set.
        listen: ``host:port`` that ``rogatory serve`` listens on by default.
    """

    identity: NodeIdentity
    created_at: dt.datetime
    database_url: str = ""
    blob_dir: str = "blobs"
    algorithms: list[str] = field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    protected: bool = False
    quorum: str = "all"
    checkpoint_interval: int = 5
    url: str = ""
    listen: str = "127.0.0.1:8470"

    def to_toml(self) -> dict[str, Any]:
        """The TOML document as a dict."""
        return {
            "node": {
                "id": self.identity.node_id,
                "country": self.identity.country,
                "agency": self.identity.agency,
                "roles": self.identity.roles,
                "created_at": self.created_at.isoformat(),
            },
            "store": {"database_url": self.database_url, "blob_dir": self.blob_dir},
            "intake": {"algorithms": self.algorithms},
            "keys": {"protected": self.protected},
            "custody": {"quorum": self.quorum, "checkpoint_interval": self.checkpoint_interval},
            "server": {"url": self.url, "listen": self.listen},
        }

    @classmethod
    def from_toml(cls, doc: dict[str, Any], path: Path) -> NodeConfig:
        """Parse a TOML document; raises :class:`NodeError` naming a bad field."""
        try:
            node = doc["node"]
            identity = NodeIdentity.create(
                node["id"], node["country"], node["agency"], list(node.get("roles", []))
            )
            algorithms = list(doc.get("intake", {}).get("algorithms", DEFAULT_ALGORITHMS))
            check_algorithms(algorithms)
            return cls(
                identity=identity,
                created_at=dt.datetime.fromisoformat(node["created_at"]),
                database_url=str(doc.get("store", {}).get("database_url", "")),
                blob_dir=str(doc.get("store", {}).get("blob_dir", "blobs")),
                algorithms=algorithms,
                protected=bool(doc.get("keys", {}).get("protected", False)),
                quorum=str(doc.get("custody", {}).get("quorum", "all")),
                checkpoint_interval=int(doc.get("custody", {}).get("checkpoint_interval", 5)),
                url=str(doc.get("server", {}).get("url", "")),
                listen=str(doc.get("server", {}).get("listen", "127.0.0.1:8470")),
            )
        except KeyError as exc:
            raise NodeError(
                f"{path} lacks the field {exc}", "restore config.toml from backup"
            ) from exc
        except RogatoryError as exc:
            raise NodeError(
                f"{path}: {exc.message}", exc.hint or "correct the file or restore it"
            ) from exc
        except Exception as exc:
            raise NodeError(f"{path} is invalid: {exc}", "correct the file or restore it") from exc


def check_algorithms(algorithms: list[str]) -> list[str]:
    """Validate a digest list: known names, ``sha256`` included.

    Raises:
        NodeError: an unknown algorithm, or sha256 missing.
    """
    for name in algorithms:
        if name not in SUPPORTED_ALGORITHMS:
            raise NodeError(
                f"unknown digest algorithm {name!r}",
                f"choose from {', '.join(SUPPORTED_ALGORITHMS)}",
            )
    if "sha256" not in algorithms:
        raise NodeError("sha256 must be among the intake algorithms", "add sha256 to the list")
    return algorithms


@dataclass
class NodeHome:
    """A node home directory and its configuration."""

    path: Path
    config: NodeConfig

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def blob_dir(self) -> Path:
        p = Path(self.config.blob_dir)
        return p if p.is_absolute() else self.path / p

    @property
    def database_url(self) -> str:
        """``$ROGATORY_DATABASE_URL``, else the config's URL, else SQLite in the home."""
        env = os.environ.get("ROGATORY_DATABASE_URL")
        if env:
            return env
        if self.config.database_url:
            return self.config.database_url
        return f"sqlite:///{self.path / 'rogatory.sqlite3'}"

    @classmethod
    def open(cls, path: Path) -> NodeHome:
        """Open an initialised home.

        Raises:
            NodeError: no ``config.toml`` there, or it is unreadable.
        """
        cfg = path / CONFIG_NAME
        if not cfg.exists():
            raise NodeError(
                f"no Rogatory node at {path}",
                "run 'rogatory init --node-id ID --country CC --agency NAME' or set --home",
            )
        try:
            doc = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise NodeError(f"cannot read {cfg}: {exc}", "correct the file or restore it") from exc
        return cls(path, NodeConfig.from_toml(doc, cfg))

    @classmethod
    def initialise(
        cls,
        path: Path,
        identity: NodeIdentity,
        passphrase: bytes | None,
        database_url: str = "",
    ) -> tuple[NodeHome, list[keys.KeyPurpose], bool]:
        """Create a node home, or complete one that exists.

        An existing ``config.toml`` is kept as it is (its identity must match
        ``identity``); missing keys are created; existing keys are never touched.

        Returns:
            (home, purposes of keys created now, whether config.toml was created now)

        Raises:
            NodeError: the home exists for another node id.
            KeyMaterialError: a passphrase was given for unprotected keys or vice versa.
        """
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        cfg_path = path / CONFIG_NAME
        created_config = False
        if cfg_path.exists():
            home = cls.open(path)
            if home.config.identity.node_id != identity.node_id:
                raise NodeError(
                    f"{path} already holds node {home.config.identity.node_id!r}",
                    "choose another --home, or use the existing node",
                )
            if home.config.protected != bool(passphrase):
                raise KeyMaterialError(
                    "this node's keys are "
                    + ("passphrase-protected" if home.config.protected else "not protected"),
                    "re-run init with the same protection as the first time",
                )
        else:
            home = cls(
                path,
                NodeConfig(
                    identity=identity,
                    created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
                    database_url=database_url,
                    protected=bool(passphrase),
                ),
            )
            home.save_config()
            created_config = True
        created = keys.generate_keys(home.keys_dir, identity.node_id, passphrase)
        home.blob_dir.mkdir(parents=True, exist_ok=True)
        return home, created, created_config

    def save_config(self) -> None:
        """Write ``config.toml`` atomically (temp file, fsync, rename)."""
        data = tomli_w.dumps(self.config.to_toml()).encode()
        target = self.path / CONFIG_NAME
        tmp = target.with_name(CONFIG_NAME + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)


def read_passphrase(passphrase_file: Path | None) -> bytes | None:
    """The unattended-unlock passphrase, or ``None`` when none is provided.

    Order: ``passphrase_file``, ``$ROGATORY_PASSPHRASE_FILE``, ``$ROGATORY_PASSPHRASE``.

    Raises:
        KeyMaterialError: the file is missing, empty, or readable by group/others.
    """
    path = passphrase_file or (
        Path(os.environ["ROGATORY_PASSPHRASE_FILE"])
        if os.environ.get("ROGATORY_PASSPHRASE_FILE")
        else None
    )
    if path is not None:
        try:
            mode = path.stat().st_mode & 0o777
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise KeyMaterialError(
                f"passphrase file {path} is not UTF-8 text",
                "write the passphrase as one line of text",
            ) from None
        except OSError as exc:
            raise KeyMaterialError(
                f"cannot read passphrase file {path}: {exc.strerror}", "check the path"
            ) from exc
        if mode & 0o077:
            raise KeyMaterialError(
                f"passphrase file {path} is readable by others (mode {mode:o})",
                f"run: chmod 600 {path}",
            )
        line = text.splitlines()[0] if text else ""
        if not line:
            raise KeyMaterialError(f"passphrase file {path} is empty", "write the passphrase in it")
        return line.encode()
    env = os.environ.get("ROGATORY_PASSPHRASE")
    return env.encode() if env else None
