"""Command line of the erigon stand-in: `python -m harness.standins.erigon ...`.

Exit codes: 1 when the data dir cannot be used (corrupt chaindata, another
chain's data, unwritable); 2 for a bad flag or an unknown chain. SIGTERM or
SIGINT stop it cleanly (the head is written), after which uvicorn re-raises
the signal, so the process ends by that signal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import UnknownService
from harness.stack import CHAINS
from harness.stack import chain as find_chain
from harness.standins._serve import base_parser, configure_logging, serve

PROG = "python -m harness.standins.erigon"

MDBX_CORRUPTED = (
    "mdbx_txn_begin: MDBX_CORRUPTED: Maybe free space is over on disk. Otherwise "
    "it's hardware failure. Before creating issue please use tools like "
    "https://www.memtest86.com to test RAM and tools like "
    "https://www.smartmontools.org to test Disk. To handle hardware risks: use ECC "
    "RAM, use RAID of disks, run multiple application instances (or do backups). "
    "If hardware checks passed - check FS settings - 'fsync' and 'flock' must be "
    "enabled. Otherwise - please create issue in Application repo. On default "
    "DURABLE mode, power outage can't cause this error. On other modes - power "
    "outage may break last transaction and mdbx_chk can recover db in this case, "
    "see '-t' and '-0|1|2' options."
)
"""What erigon prints (via mdbx-go) when its database fails to open as corrupt."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The stand-in's flags (argparse exits 2 on a malformed one)."""
    parser = base_parser(
        "erigon",
        "An erigon stand-in: JSON-RPC, /health and a chain that grows on a timer.",
        8545,
    )
    parser.add_argument(
        "--chain", required=True, help=", ".join(c.name for c in CHAINS)
    )
    parser.add_argument(
        "--data-dir", required=True, type=Path, help="where the chain is kept"
    )
    parser.add_argument(
        "--block-time-ms",
        type=_positive_int,
        default=1000,
        help="one block every this many ms (default: %(default)s)",
    )
    parser.add_argument(
        "--peers",
        type=_non_negative_int,
        default=25,
        help="peer count at start (default: %(default)s)",
    )
    parser.add_argument(
        "--catchup-ms",
        type=_non_negative_int,
        default=300,
        help="time to catch up to the network after a restart or stall "
        "(default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in until SIGTERM or SIGINT; returns the exit code."""
    args = parse_args(argv)
    try:
        chain = find_chain(args.chain)
    except UnknownService as exc:
        sys.stderr.write(f"{PROG}: error: {exc.line()} (--chain)\n")
        return exc.exit_code

    configure_logging(args.log_level)
    from harness.standins.erigon.app import build_app
    from harness.standins.erigon.node import open_node
    from harness.standins.erigon.store import StoreOfOtherChain, StoreUnreadable

    try:
        node = open_node(
            chain.name,
            chain.chain_id,
            args.data_dir,
            block_time_ms=args.block_time_ms,
            peers=args.peers,
            catchup_ms=args.catchup_ms,
        )
    except StoreUnreadable as exc:
        sys.stderr.write(MDBX_CORRUPTED + "\n")
        sys.stderr.write(
            f"{PROG}: {exc.path} is corrupt ({exc.reason}); remove "
            f"{exc.path.parent} to rebuild it from snapshots, or restore it "
            "from another node\n"
        )
        return 1
    except StoreOfOtherChain as exc:
        sys.stderr.write(
            f"{PROG}: error: {exc.path} holds chain {exc.found}, not "
            f"{exc.expected}; use another --data-dir\n"
        )
        return 1
    except OSError as exc:
        sys.stderr.write(
            f"{PROG}: error: cannot use --data-dir {args.data_dir}: {exc}\n"
        )
        return 1

    serve(build_app(node), args.host, args.port, args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
