"""Outputs of a drill: the journal first; every other report reads it."""
