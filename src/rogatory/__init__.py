"""Rogatory: international cooperation against cybercrime, one node per agency.

Parts (one package each): ``node`` (identity, keys, node home), ``store``
(database and migrations), ``cases``, ``evidence`` (intake, blob store,
verification), ``cli`` (the command line). See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
