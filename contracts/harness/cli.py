"""``specfake check server`` and ``specfake check client``: argument parsing only.

The work lives in `server_check`, `client_check`, `proxy` and `fuzz`, imported on use so that
``specfake serve`` never pays for schemathesis at start-up.
"""

from __future__ import annotations

import argparse
from typing import Any

PROFILES = ("quick", "thorough")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--contract", required=True, metavar="NAME_OR_PATH", help="built-in contract name or OpenAPI file"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same run (default 0)")
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report here")
    parser.add_argument("--report", metavar="FILE.json", help="write a JSON report here")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show every finding, not three per check"
    )


def add_check_parser(commands: Any) -> None:
    check = commands.add_parser("check", help="check a server or a client against a contract")
    sides = check.add_subparsers(dest="side", required=True)

    server = sides.add_parser(
        "server", help="test a running server (real, yours, or the fake) against a contract"
    )
    _common(server)
    server.add_argument(
        "--base-url",
        metavar="URL",
        help="the server's base URL for the contract, prefix included (e.g. http://127.0.0.1:4010/humanloop/v4);"
        " omitted: check the built-in fake, started empty in a child process",
    )
    server.add_argument("--api-key", metavar="KEY", help="sent in the contract's API key header")
    server.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    server.add_argument(
        "--profile", choices=PROFILES, default="thorough", help="quick: every commit; thorough"
    )
    server.add_argument(
        "--max-examples", type=int, metavar="N", help="examples per operation (overrides profile)"
    )
    server.add_argument("--workers", type=int, default=1, metavar="N", help="concurrent workers (default 1)")
    server.add_argument(
        "--include", action="append", default=[], metavar="OPERATION_ID", help="test only these operations"
    )
    server.add_argument(
        "--no-invariants", action="store_true", help="skip the create/list/delete/paging state machines"
    )
    server.add_argument("--html", metavar="FILE.html", help="write a self-contained HTML report here")
    server.set_defaults(func=_run_server)

    client = sides.add_parser(
        "client",
        help="run a client against the fake (or a real server via --proxy) and report every request "
        "that breaks the contract",
    )
    _common(client)
    client.add_argument("--proxy", metavar="URL", help="forward to this real server; check both sides")
    client.add_argument("--port", type=int, default=0, metavar="N", help="listen port (default: a free one)")
    client.add_argument("--fixtures", metavar="DIR", help="start the fake from this fixtures directory")
    client.add_argument("--empty", action="store_true", help="start the fake with no fixture data")
    client.add_argument(
        "--fuzz-responses",
        action="store_true",
        help="answer with unusual contract-valid responses; shrink any crash of the client",
    )
    client.add_argument("--max-examples", type=int, default=50, metavar="N", help="client runs when fuzzing")
    client.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="fuzzing: seconds one client run may take"
    )
    client.add_argument(
        "--shrink-seconds",
        type=float,
        default=60.0,
        metavar="S",
        help="fuzzing: time to look for a smaller crash (same seed, same report when shrinking ends in time)",
    )
    client.add_argument(
        "--allow-extra-fields",
        action="store_true",
        help="do not report request fields the contract does not name (where it allows extras)",
    )
    client.add_argument(
        "--coverage",
        metavar="FILE.json",
        help="write what the run exercised per operation (statuses, variants, faults) here",
    )
    client.add_argument(
        "--min-coverage",
        type=float,
        metavar="PCT",
        help="exit 4 when the share of operations called is below PCT, naming what was never exercised",
    )
    client.add_argument("--html", metavar="FILE.html", help="write a self-contained HTML report here")
    client.add_argument("command", nargs=argparse.REMAINDER, help="-- the client command to run")
    client.set_defaults(func=_run_client)

    diff = sides.add_parser(
        "diff", help="report the changes from one contract version to the next that break clients or servers"
    )
    diff.add_argument("old", metavar="OLD", help="the old contract: built-in name or OpenAPI file")
    diff.add_argument("new", metavar="NEW", help="the new contract: built-in name or OpenAPI file")
    diff.add_argument(
        "--traffic",
        action="append",
        default=[],
        metavar="FILE",
        help="recorded traffic to replay against NEW: a journal export, a HAR file, a cassette or a"
        " directory of cassettes (repeatable)",
    )
    diff.add_argument(
        "--fail-on", choices=("error", "warning"), default="error", help="exit 1 from this severity on"
    )
    diff.add_argument("--junit", metavar="FILE", help="write a JUnit XML report here")
    diff.add_argument("--report", metavar="FILE.json", help="write a JSON report here")
    diff.add_argument("-v", "--verbose", action="store_true", help="show every change, not ten per operation")
    diff.set_defaults(func=_run_diff)


def _run_server(args: argparse.Namespace) -> int:
    import sys

    from specfake.contracts.harness import progress, server_check

    with progress.display(sys.stderr):
        return server_check.run(args)


def _run_client(args: argparse.Namespace) -> int:
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if args.fuzz_responses:
        from specfake.contracts.harness import fuzz

        return fuzz.run(args)
    if args.proxy:
        from specfake.contracts.harness import proxy

        return proxy.run(args)
    from specfake.contracts.harness import client_check

    return client_check.run(args)


def _run_diff(args: argparse.Namespace) -> int:
    from specfake.contracts.harness import diff

    return diff.run(args)
