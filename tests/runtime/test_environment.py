"""The recovery environment: endpoints, libpq variables, shims first on PATH."""

from __future__ import annotations

import subprocess

from harness.runtime.endpoints import DatabaseEndpoint, Endpoints, Secrets
from harness.runtime.environment import as_exports, recovery_env

ENDPOINTS = Endpoints(
    proxy_api="http://127.0.0.1:8474",
    rpc={"ethereum": "http://127.0.0.1:8545", "base": "http://127.0.0.1:8592"},
    mev_boost="http://127.0.0.1:18550",
    mev_api="http://127.0.0.1:8082",
    relays={"relay-a": "http://127.0.0.1:18551"},
    database=DatabaseEndpoint(host="127.0.0.1", port=5432),
)
SECRETS = Secrets(db_password="pa ss'word$", api_key="key-1")


def test_recovery_env_exports_libpq_variables_when_built():
    env = recovery_env(
        ENDPOINTS, SECRETS, path_dirs=["/shims"], control={}, base_path="/usr/bin"
    )
    assert env["PGHOST"] == "127.0.0.1"
    assert env["PGPORT"] == "5432"
    assert env["PGUSER"] == "mev_user"
    assert env["PGDATABASE"] == "mev_db"
    assert env["PGPASSWORD"] == "pa ss'word$"
    assert env["DRILL_RPC_ETHEREUM"] == "http://127.0.0.1:8545"
    assert env["DRILL_RELAY_A_URL"] == "http://127.0.0.1:18551"
    assert env["MEV_API_URL"] == "http://127.0.0.1:8082"


def test_recovery_env_puts_shims_first_on_path_when_built():
    env = recovery_env(
        ENDPOINTS,
        SECRETS,
        path_dirs=["/shims", "/pg/bin"],
        control={},
        base_path="/usr/bin:/bin",
    )
    assert env["PATH"] == "/shims:/pg/bin:/usr/bin:/bin"


def test_database_url_carries_no_password_when_built():
    env = recovery_env(ENDPOINTS, SECRETS, path_dirs=[], control={}, base_path="")
    assert SECRETS.db_password not in env["DATABASE_URL"]
    assert env["DATABASE_URL"] == "postgresql://mev_user@127.0.0.1:5432/mev_db"


def test_exports_survive_a_posix_shell_when_values_hold_quotes_and_dollars():
    env = recovery_env(
        ENDPOINTS,
        SECRETS,
        path_dirs=[],
        control={"X": "a b"},
        base_path="/usr/bin:/bin",
    )
    script = as_exports(env) + 'printf "%s|%s" "$PGPASSWORD" "$X"'
    out = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True
    )
    assert out.stdout == "pa ss'word$|a b"
