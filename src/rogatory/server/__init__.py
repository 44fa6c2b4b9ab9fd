"""Server: the node's HTTP API (FastAPI). The witness router and the log's public endpoints."""
