"""Steady-state probes: chains, services, the database, freshness, security."""
