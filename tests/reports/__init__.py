"""Tests of harness/reports."""
