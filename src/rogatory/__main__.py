"""``python -m rogatory`` runs the command line."""

from rogatory.cli.main import run

run()
