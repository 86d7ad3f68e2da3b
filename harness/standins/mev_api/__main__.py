"""Command line of the MEV API stand-in: `python -m harness.standins.mev_api`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.standins._serve import base_parser, configure_logging, serve

DEFAULT_PORT = 8082


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line; argparse exits 2 on a bad flag."""
    parser = base_parser(
        "mev_api", "The MEV API (mev-infra) stand-in, backed by Postgres.", DEFAULT_PORT
    )
    add = parser.add_argument
    add(
        "--database-url",
        required=True,
        help="postgresql:// URL of mev_db (never logged)",
    )
    add(
        "--keys-file",
        type=Path,
        required=True,
        help="JSON file of API key hashes; re-read when it changes",
    )
    add(
        "--audit-log",
        type=Path,
        required=True,
        help="JSON-lines file that audit records are appended to",
    )
    add(
        "--pool-min",
        type=int,
        default=1,
        help="connections kept open (default: %(default)s)",
    )
    add(
        "--pool-max",
        type=int,
        default=10,
        help="most connections the pool opens (default: %(default)s)",
    )
    add(
        "--connect-timeout-s",
        type=float,
        default=2.0,
        help="wait for a pool connection, seconds (default: %(default)s)",
    )
    add(
        "--query-timeout-s",
        type=float,
        default=2.0,
        help="statement timeout, seconds (default: %(default)s)",
    )
    add(
        "--anonymous-reads",
        choices=["loopback", "any", "off"],
        default="loopback",
        help="who may GET without a key (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.pool_min <= args.pool_max or args.pool_max < 1:
        parser.error(
            f"--pool-min {args.pool_min} / --pool-max {args.pool_max}: "
            "need 0 <= pool-min <= pool-max and pool-max >= 1"
        )
    for flag in ("connect_timeout_s", "query_timeout_s"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Serve the API until SIGTERM or SIGINT."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    if args.log_level != "debug":
        # The pool warns on every failed connect, over several lines; the
        # API logs each change of the database's reachability once instead.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    from harness.standins.mev_api.app import AnonymousReads, ApiConfig, create_app

    config = ApiConfig(
        database_url=args.database_url,
        keys_file=args.keys_file.absolute(),
        audit_log=args.audit_log.absolute(),
        pool_min=args.pool_min,
        pool_max=args.pool_max,
        connect_timeout_s=args.connect_timeout_s,
        query_timeout_s=args.query_timeout_s,
        anonymous_reads=AnonymousReads(args.anonymous_reads),
    )
    serve(create_app(config), args.host, args.port, args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
