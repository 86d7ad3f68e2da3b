"""The embedded fault proxy: a Toxiproxy-compatible API and data plane in one process.

Run it with `python -m harness.proxy`; drive it with `harness.proxy.client`
or any Toxiproxy client. Nothing is imported here, so starting is fast.
"""
