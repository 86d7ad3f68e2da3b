"""What every stand-in shares: argument parsing basics, logging, serving an app."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def base_parser(
    name: str, description: str, default_port: int
) -> argparse.ArgumentParser:
    """An argument parser with the options every stand-in takes."""
    parser = argparse.ArgumentParser(
        prog=f"python -m harness.standins.{name}", description=description
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=default_port,
        help="port to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: %(default)s)",
    )
    return parser


def configure_logging(level: str) -> None:
    """Log to stderr, one line a record; the runtime redirects it to a file."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=LOG_FORMAT)


def serve(app: Any, host: str, port: int, log_level: str = "info") -> None:
    """Serve an ASGI app with uvicorn until SIGTERM or SIGINT.

    Access logs are off: a stand-in logs what it decides, not every request.
    """
    import uvicorn

    configure_logging(log_level)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
