"""CLI: the ``rogatory`` command (Typer + Rich)."""
