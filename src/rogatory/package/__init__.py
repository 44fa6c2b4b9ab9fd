"""Evidence packages: portable, signed, age-encrypted archives and their offline verification."""
