"""``specfake`` command line: ``specfake serve`` starts the fake; ``specfake record`` records a
real service's answers as cassettes the fake replays."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from specfake.contract import ContractError, builtin_contracts
from specfake.contracts.harness.cli import add_check_parser
from specfake.record import add_record_parser


def _serve(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    import uvicorn

    from specfake.app import create_app
    from specfake.clock import parse_clock
    from specfake.protocol import WILDCARD_BINDS, HttpPolicy
    from specfake.scenario import ScenarioError
    from specfake.server import uvicorn_config

    if args.root and len(args.contract or builtin_contracts()) != 1:
        served = ", ".join(args.contract or builtin_contracts())
        print(
            f"specfake: --root mounts one contract at the root, not several ({served}): "
            "name one with --contract",
            file=sys.stderr,
        )
        return 2
    try:
        keys = None if not args.api_key or "*" in args.api_key else args.api_key
        options = dict(_option(text) for text in args.option or [])
        if args.stream_speed is not None:
            options["stream_speed"] = f"{args.stream_speed:g}"
        if args.streams is not None:
            options["streams_dir"] = args.streams
        for name in ("replay", "upstream", "record_missing"):
            if getattr(args, name) is not None:
                options[name] = getattr(args, name)
        if args.rate_limit:
            options["rate_limit"] = "; ".join(args.rate_limit)
        if args.token_limit is not None:
            options["token_limit"] = args.token_limit
        app = create_app(
            args.contract or None,
            seed=args.seed,
            max_body=args.max_body,
            api_keys=keys,
            state=args.state,
            options=options,
            admin_token=args.admin_token,
            fixtures=None if args.empty else (args.fixtures or "builtin"),
            faults=args.faults,
            scenarios=args.scenario or (),
            clock=parse_clock(args.clock) if args.clock else None,
            stateless=args.stateless,
            root=args.root,
            dynamic=args.dynamic,
        )
        http = HttpPolicy(
            max_header_bytes=args.max_header_size,
            max_headers=args.max_headers,
            header_timeout=args.header_timeout,
            allowed_hosts=tuple(args.allowed_host or ()),
        )
    except (ContractError, ScenarioError, ValueError) as exc:
        print(f"specfake: {exc}", file=sys.stderr)
        return 2
    host = args.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "localhost", "") else host
    for api in sorted(app.apis, key=lambda a: a.contract.name):
        print(
            f"specfake: {api.contract.name:<12} http://{shown}:{args.port}{api.prefix}  "
            f"({len(api.contract.operations)} operations, contract at {api.prefix}/openapi.json)"
        )
    if keys:
        from specfake.tenants import fingerprint, mask

        # A key is never printed whole: spec…-1 (its tenant's fingerprint), or the fingerprint alone.
        named = [(mask(key), fingerprint(key)) for key in keys]
        shown_keys = ", ".join(m if m == f else f"{m} (tenant {f})" for m, f in named)
        print(f"specfake: API keys accepted (one tenant each, named by fingerprint): {shown_keys}")
    else:
        print("specfake: any non-empty API key is accepted (one tenant each, named by its fingerprint)")
    world = "none (--empty)" if args.empty else (args.fixtures or "built-in demo world")
    if args.stateless:
        print("specfake: stateless: answers from the contracts, nothing is stored; admin API: /__admin")
    else:
        print(f"specfake: fixtures: {world}; state: {args.state or 'in memory'}; admin API: /__admin")
    if app.fault_rules.rules:
        print(f"specfake: fault rules: {len(app.fault_rules.rules)} from {args.faults} (GET /__admin/faults)")
    if app.scenarios.running:
        print(f"specfake: scenarios running: {', '.join(app.scenarios.running)} (GET /__admin/scenarios)")
    recordings = f"{options['streams_dir']} + built-in" if options.get("streams_dir") else "built-in"
    recordings += f"; replay {options.get('replay', 'prefer')}"
    if options.get("record_missing"):
        recordings += f"; missing ones fetched from {options['upstream']} into {options['record_missing']}"
    print(f"specfake: streams: speed {options.get('stream_speed', '1')}; recordings: {recordings}")
    print(
        f"specfake: ready in {time.perf_counter() - started:.2f}s (seed {args.seed}); Ctrl-C stops",
        flush=True,
    )
    if host in WILDCARD_BINDS and not http.allowed_hosts:
        print(
            f"specfake: bound to {host or 'every address'}: a Host other than a loopback name gets a 403; "
            "name the others with --allowed-host NAME"
        )
    server = uvicorn.Server(uvicorn_config(app, host, args.port, args.log_level, http=http))
    server.run()
    return 0


def _mock(args: argparse.Namespace) -> int:
    """``specfake mock FILE``: ``prism mock``'s command line, run as ``serve`` of that one contract
    at the root, stateless, any key accepted, streams sent at once (Prism cannot stream at all)."""
    argv = ["serve", "--contract", args.file, "--root", "--stateless", "--empty", "--stream-speed", "0"]
    argv += ["--host", args.host, "--port", str(args.port), "--seed", str(args.seed)]
    argv += ["--dynamic"] if args.dynamic else []
    if args.errors:  # what Prism's --errors adds is what specfake always does (README)
        print("specfake: --errors: request violations are always answered as errors here (422, 401, 413)")
    return _serve(build_parser().parse_args(argv))


def _option(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--option expects NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _speed(text: str) -> float:
    from specfake.options import parse_speed

    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specfake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the fake")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4010)
    serve.add_argument("--seed", type=int, default=0, help="seed for generated data")
    serve.add_argument(
        "--contract",
        action="append",
        metavar="NAME_OR_PATH",
        help=f"contract to serve; repeatable (built-ins: {', '.join(builtin_contracts())}; default all)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="accept only this key (repeatable; each key is a tenant); '*' or none: any key",
    )
    serve.add_argument("--state", metavar="FILE", help="keep state in this SQLite file across restarts")
    serve.add_argument(
        "--root",
        action="store_true",
        help="mount the one --contract at its servers' base path alone (/v4, or /), as Prism serves it",
    )
    serve.add_argument(
        "--dynamic",
        action="store_true",
        help="with --stateless: answer from data generated from the schemas, not the examples (Prism's -d)",
    )
    serve.add_argument(
        "--stateless",
        action="store_true",
        help="Prism's semantics: every operation answers from its contract (examples, generated data)",
    )
    world = serve.add_mutually_exclusive_group()
    world.add_argument("--fixtures", metavar="DIR", help="start every tenant from this fixtures directory")
    world.add_argument("--empty", action="store_true", help="start with no fixture data")
    serve.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="behaviour option, e.g. evaluation_pace=2 (repeatable; see README)",
    )
    serve.add_argument(
        "--stream-speed",
        type=_speed,
        metavar="F",
        help="factor on streamed chunks' gaps: 0 sends at once, 1 (default) real time, 2 twice as slow",
    )
    serve.add_argument(
        "--streams",
        "--cassettes",
        metavar="DIR",
        help="also replay the cassettes in DIR (e.g. from specfake record): streams and JSON answers",
    )
    serve.add_argument(
        "--replay",
        choices=("prefer", "only", "off"),
        help="recorded answers first (prefer, the default), alone (only: a miss is a 404), never (off)",
    )
    serve.add_argument("--upstream", metavar="URL", help="with --record-missing: the real service")
    serve.add_argument(
        "--record-missing", metavar="DIR", help="fetch what no recording answers from --upstream; record it"
    )
    serve.add_argument("--admin-token", metavar="TOKEN", help="let non-loopback callers use /__admin with it")
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="also answer this Host (loopback names and the bind host always; .NAME adds subdomains; "
        "'*' any; repeatable)",
    )
    serve.add_argument(
        "--header-timeout", type=float, default=10.0, metavar="SECONDS", help="close a slow request head (10)"
    )
    serve.add_argument("--max-header-size", type=int, default=64 * 1024, help="request head limit (bytes)")
    serve.add_argument("--max-headers", type=int, default=100, help="request header fields limit (100)")
    serve.add_argument("--max-body", type=int, default=8 * 1024 * 1024, help="request body limit (bytes)")
    serve.add_argument(
        "--faults", metavar="FILE", help="fault rules (YAML list) for matching requests; see README Faults"
    )
    serve.add_argument(
        "--clock",
        metavar="CLOCK",
        help="wall (default), fixed[:ISO-TIME] or stepping[:ISO-TIME][/SECONDS]: a reproducible run",
    )
    serve.add_argument(
        "--scenario",
        action="append",
        metavar="NAME_OR_FILE",
        help="start a scenario (shipped: fixtures/scenarios/; repeatable; see README Scenarios)",
    )
    serve.add_argument(
        "--rate-limit",
        action="append",
        metavar="SPEC",
        help="requests per API key: 60/min, or OPERATION_ID=10/s for one operation (repeatable)",
    )
    serve.add_argument(
        "--token-limit", metavar="N/UNIT", help="generated tokens per API key on streaming operations"
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    serve.set_defaults(func=_serve)
    # -h is Prism's --host, so help is --help alone.
    mock = commands.add_parser(
        "mock", add_help=False, help="prism mock's command line: one contract, stateless, at the root"
    )
    mock.add_argument("--help", action="help", help="show this help and exit")
    mock.add_argument(
        "file", metavar="FILE", help=f"a contract path or a built-in ({', '.join(builtin_contracts())})"
    )
    mock.add_argument("-p", "--port", type=int, default=4010, help="port (default 4010)")
    mock.add_argument("-h", "--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    mock.add_argument(
        "-d",
        "--dynamic",
        action="store_true",
        help="generate answers from the schemas instead of the examples",
    )
    mock.add_argument("--seed", type=int, default=0, help="seed for generated data (default 0)")
    mock.add_argument(
        "--errors",
        action="store_true",
        help="accepted for Prism's scripts: request violations are always errors",
    )
    mock.set_defaults(func=_mock)
    add_record_parser(commands)
    add_check_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
