"""The environment a recovery plan runs in: endpoints, libpq variables, shims first.

`drill env` prints it as shell exports, so `eval "$(drill env)"` lets an
engineer run a runbook by hand against the stand-ins.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence

from harness.runtime.endpoints import Endpoints, Secrets


def recovery_env(
    endpoints: Endpoints,
    secrets: Secrets,
    *,
    path_dirs: Sequence[str],
    control: Mapping[str, str],
    base_path: str | None = None,
) -> dict[str, str]:
    """Variables a recovery script gets (added to, not replacing, its environment).

    `path_dirs` go first on PATH (the `systemctl` shim); `control` carries what
    the shims need to find the stack (e.g. DRILL_STATE_DIR).
    """
    db = endpoints.database
    env = {
        **{f"DRILL_RPC_{chain.upper()}": url for chain, url in endpoints.rpc.items()},
        **{
            f"DRILL_{name.upper().replace('-', '_')}_URL": url
            for name, url in endpoints.relays.items()
        },
        "DRILL_PROXY_API": endpoints.proxy_api,
        "DRILL_RPC_PORTS": " ".join(
            url.rsplit(":", 1)[-1] for url in endpoints.rpc.values()
        ),
        "MEV_BOOST_URL": endpoints.mev_boost,
        "MEV_API_URL": endpoints.mev_api,
        "MEV_API_KEY": secrets.api_key,
        "DATABASE_URL": db.url(),
        "PGHOST": db.host,
        "PGPORT": str(db.port),
        "PGUSER": db.user,
        "PGPASSWORD": secrets.db_password,
        "PGDATABASE": db.dbname,
        **control,
    }
    current = os.environ.get("PATH", "") if base_path is None else base_path
    env["PATH"] = os.pathsep.join([*path_dirs, *([current] if current else [])])
    return env


def as_exports(env: Mapping[str, str]) -> str:
    """`export NAME='value'` lines, quoted for POSIX shells."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
