"""``python -m rogatory`` runs the command line."""

from rogatory.cli.entry import run

run()
