"""The fault catalogue: database, network, security and cluster faults."""
