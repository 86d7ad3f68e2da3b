"""The erigon stand-in: JSON-RPC, /health and a growing chain kept in a data dir."""
