"""A `sudo` for recovery scripts: `sudo -u postgres CMD` runs CMD as the DB superuser.

Runbooks say `sudo -u postgres dropdb mev_db`; against the stand-ins that
means "run this Postgres client with the superuser's connection", which is
what this does (libpq variables for the superuser, no password). `sudo CMD`
with no user runs CMD as is. Any other user is refused, as sudo refuses an
unknown one.
"""

from __future__ import annotations

import os
import sys

from harness.errors import DrillError
from harness.runtime.open import open_runtime


def _err(line: str) -> None:
    # Plain text on stderr, as the real sudo writes it.
    sys.stderr.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    """Parse sudo's options, then exec the command; return an exit code on error."""
    args = list(sys.argv[1:] if argv is None else argv)
    user = "root"
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag == "--":
            break
        if flag in ("-u", "--user") and args:
            user = args.pop(0)
        elif flag.startswith("-u") and len(flag) > 2:
            user = flag[2:]
        elif flag in ("-E", "-n", "-H", "-i", "--preserve-env", "--non-interactive"):
            continue
        else:
            _err(f"sudo: option {flag} is not supported by the drill shim")
            return 1
    if not args:
        _err("usage: sudo [-u user] command [args...]")
        return 1

    env = dict(os.environ)
    if user == "postgres":
        try:
            admin = open_runtime().admin_libpq_env()
        except DrillError as exc:
            _err(f"sudo: {exc.line()}")
            return 1
        for name in ("PGPASSWORD", "PGDATABASE", "DATABASE_URL"):
            env.pop(name, None)
        env.update(admin)
    elif user != "root":
        _err(f"sudo: unknown user {user}")
        return 1
    try:
        os.execvpe(args[0], args, env)
    except FileNotFoundError:
        _err(f"sudo: {args[0]}: command not found")
        return 1


if __name__ == "__main__":
    sys.exit(main())
