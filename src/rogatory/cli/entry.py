"""The console entry point: starts early hashing for ``evidence add --in-place``, then runs the CLI.

Kept free of heavy imports on purpose: everything here runs before the rest of
Rogatory is imported (see :mod:`rogatory.evidence.prehash`).
"""

from __future__ import annotations

import os
import sys


def _algorithms(argv: list[str]) -> list[str]:
    chosen = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--algorithm"]
    if chosen:
        return list(dict.fromkeys(chosen))
    home = os.environ.get("ROGATORY_HOME")
    if "--home" in argv[:-1]:
        home = argv[argv.index("--home") + 1]
    path = os.path.join(os.path.expanduser(home or "~/.rogatory"), "config.toml")
    try:
        import tomllib

        with open(path, "rb") as f:
            algorithms = tomllib.load(f).get("intake", {}).get("algorithms")
        return [str(a) for a in algorithms] if isinstance(algorithms, list) else []
    except (OSError, ValueError):
        return ["sha256", "sha1", "md5"]


def run() -> None:
    """Console entry point (``rogatory``)."""
    argv = sys.argv[1:]
    if "evidence" in argv and "add" in argv and "--in-place" in argv:
        from rogatory.evidence import prehash

        prehash.start([a for a in argv if not a.startswith("-")], _algorithms(argv))
    from rogatory.cli.main import run as main_run

    main_run()
