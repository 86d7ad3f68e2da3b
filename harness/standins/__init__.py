"""Stand-ins: small real servers that speak the protocols of the MEV stack."""
