"""Entry point: `python -m harness.proxy --host 127.0.0.1 --port 8474 [--log-level]`."""

from __future__ import annotations

from harness.stack import PROXY_API_PORT
from harness.standins._serve import base_parser, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and serve the API (and every proxy) until SIGTERM."""
    parser = base_parser(
        "proxy",
        "Fault proxy speaking Toxiproxy's HTTP API v2; proxies and toxics are"
        " created through the API.",
        PROXY_API_PORT,
    )
    parser.prog = "python -m harness.proxy"
    args = parser.parse_args(argv)

    from harness.proxy.api import ToxiproxyApi

    serve(ToxiproxyApi(), args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
