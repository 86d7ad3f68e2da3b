"""Chaos-engineering and disaster-recovery drills for MEV infrastructure."""

__version__ = "0.1.0"
