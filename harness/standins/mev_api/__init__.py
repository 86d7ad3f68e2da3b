"""The MEV API stand-in (mev-infra): opportunities over HTTP from Postgres, with keys.

`new_keys_file` is what the runtime calls to create a keys file; the server
itself starts with `python -m harness.standins.mev_api`.
"""

from harness.standins.mev_api.keys import new_keys_file

__all__ = ["new_keys_file"]
