"""`switchyard`: apply config, run the local stack, and operate a region."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from switchyard import constants

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchyard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    apply = commands.add_parser("apply", help="validate a workspace file and apply it to a region")
    apply.add_argument("file", type=Path)
    _add_target_options(apply)
    apply.set_defaults(run=run_apply)

    dev = commands.add_parser("dev", help="run the whole pipeline locally on emulated AWS")
    dev.add_argument("--config", type=Path, required=True, help="workspace file to apply at start")
    dev.add_argument("--port", type=int, default=8080, help="tracking API port (default 8080)")
    dev.add_argument("--aws-port", type=int, default=4566, help="emulated AWS endpoint port (default 4566)")
    dev.add_argument("--region", default=constants.DEFAULT_REGION, choices=sorted(constants.REGIONS))
    dev.add_argument("--verbose", action="store_true", help="show Lambda logs and metrics")
    dev.add_argument(
        "--demo-receiver",
        type=int,
        metavar="PORT",
        help="also run a webhook receiver on this port that prints what it gets",
    )
    dev.add_argument("--console-port", type=int, default=8090, help="the console's port on 127.0.0.1 (default 8090)")
    dev.set_defaults(run=run_dev)

    outputs = commands.add_parser("outputs", help="show the resources of a region's stack")
    _add_target_options(outputs)
    outputs.set_defaults(run=run_outputs)

    tail = commands.add_parser("tail", help="print events as they arrive in a region's stream")
    tail.add_argument("--from-start", action="store_true", help="start at the oldest record kept")
    tail.add_argument("--limit", type=int, help="stop after this many events")
    _add_target_options(tail)
    tail.set_defaults(run=run_tail)

    delivery = commands.add_parser("delivery", help="Delivery Overview: a destination's events step by step, and why")
    delivery.add_argument("destination")
    delivery.add_argument("--since", default="1h", help="period to report on: 30m, 1h, 24h, 7d (default 1h)")
    _add_target_options(delivery)
    delivery.set_defaults(run=run_delivery)

    dlq = commands.add_parser("dlq", help="dead letters: events given up on after retries")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, help_text in (
        ("list", "show each dead letter with its last error"),
        ("redrive", "send every dead letter of the destination again"),
    ):
        command = dlq_commands.add_parser(name, help=help_text)
        command.add_argument("destination")
        _add_target_options(command)
        command.set_defaults(run=run_dlq)

    replay = commands.add_parser("replay", help="send a slice of the archive again to destinations")
    replay_commands = replay.add_subparsers(dest="replay_command", required=True)
    start = replay_commands.add_parser("start", help="start a replay (validated before anything starts)")
    start.add_argument("--source", required=True)
    start.add_argument("--destination", action="append", required=True, help="repeat for several")
    start.add_argument("--from", dest="start", required=True, help="received time, inclusive (ISO-8601)")
    start.add_argument("--to", dest="end", required=True, help="received time, exclusive (ISO-8601)")
    start.add_argument("--type", action="append", help="only these call types (repeatable)")
    start.add_argument("--event", action="append", help="only these track event names (repeatable)")
    start.add_argument("--rate", type=int, help="events per second (default: the destination's rate limit)")
    start.add_argument("--wait", action="store_true", help="show progress until it finishes, then the totals")
    for name, help_text in (("status", "progress and totals of a replay"), ("cancel", "stop a running replay")):
        command = replay_commands.add_parser(name, help=help_text)
        command.add_argument("replay_id")
        _add_target_options(command)
    replay_list = replay_commands.add_parser("list", help="recent replays")
    _add_target_options(replay_list)
    _add_target_options(start)
    replay.set_defaults(run=run_replay)

    functions = commands.add_parser("functions", help="user functions: webhook URLs and a test loop")
    function_commands = functions.add_subparsers(dest="functions_command", required=True)
    url = function_commands.add_parser("url", help="the webhook URL (with its token) of a source function")
    url.add_argument("function_id")
    _add_target_options(url)
    test = function_commands.add_parser("test", help="run a function on a payload, as the pipeline would")
    test.add_argument("function_id")
    test.add_argument("--config", type=Path, default=Path("workspace.yaml"), help="the workspace file")
    payload = test.add_mutually_exclusive_group(required=True)
    payload.add_argument("--event", type=Path, help="insert/destination functions: an event (or a list) as JSON")
    payload.add_argument(
        "--request", type=Path, help='source functions: a request body (JSON), or {"headers": {...}, "body": "..."}'
    )
    functions.set_defaults(run=run_functions)

    destinations = commands.add_parser("destinations", help="destination types, and an event tester")
    destination_commands = destinations.add_subparsers(dest="destinations_command", required=True)
    destination_commands.add_parser("types", help="each type: its calls, settings (required, secret) and hosts")
    tester = destination_commands.add_parser(
        "test", help="the exact request(s) a destination would get for an event; --send sends them"
    )
    tester.add_argument("destination_id")
    tester.add_argument("--config", type=Path, default=Path("workspace.yaml"), help="the workspace file")
    tester.add_argument("--event", type=Path, required=True, help="an event (or a list) as JSON")
    tester.add_argument("--send", action="store_true", help="send them and show the answers")
    tester.add_argument("--region", help="the stack region it stands for (EU hosts in eu-*; AWS types' region)")
    destinations.set_defaults(run=run_destinations)

    fql = commands.add_parser("fql", help="evaluate a filter query (FQL) on an event: true or false")
    fql.add_argument("query", help="the FQL query, e.g. \"type = 'track' and match(event, 'Order *')\"")
    fql.add_argument("--event", type=Path, required=True, help="the event as JSON ('-' reads standard input)")
    fql.set_defaults(run=run_fql)

    filters = commands.add_parser("filters", help="destination filters: what they do to an event")
    filter_commands = filters.add_subparsers(dest="filters_command", required=True)
    filter_test = filter_commands.add_parser("test", help="each filter's verdict, and the event the destination gets")
    filter_test.add_argument("destination_id")
    filter_test.add_argument("--config", type=Path, default=Path("workspace.yaml"), help="the workspace file")
    filter_test.add_argument("--event", type=Path, required=True, help="the event as JSON ('-' reads standard input)")
    filters.set_defaults(run=run_filters)

    plan = commands.add_parser("plan", help="tracking plans: what a source's plan does to an event")
    plan_commands = plan.add_subparsers(dest="plan_command", required=True)
    plan_check = plan_commands.add_parser("check", help="violations, and what the plan's controls would do")
    plan_check.add_argument("source_id")
    plan_check.add_argument("--config", type=Path, default=Path("workspace.yaml"), help="the workspace file")
    plan_check.add_argument("--event", type=Path, required=True, help="the event as JSON ('-' reads standard input)")
    plan.set_defaults(run=run_plan)

    violations = commands.add_parser("violations", help="what a source's tracking plan found, with samples")
    violations.add_argument("source")
    violations.add_argument("--since", default="1h", help="period to report on: 30m, 1h, 24h, 7d (default 1h)")
    _add_target_options(violations)
    violations.set_defaults(run=run_violations)

    privacy = commands.add_parser("privacy", help="personal data: where the router saw which class")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    inventory = privacy_commands.add_parser("inventory", help="classes of personal data per source and field")
    inventory.add_argument("--source", help="one source (default: every source of the region)")
    inventory.add_argument("--days", type=int, default=7, help="days to look back, today included (default 7)")
    _add_target_options(inventory)
    privacy.set_defaults(run=run_privacy)

    debugger = commands.add_parser("debugger", help="a source's latest messages, searchable; --follow as they arrive")
    debugger.add_argument("source", help="the source's id or name")
    debugger.add_argument("--follow", action="store_true", help="keep printing new messages until Ctrl-C")
    debugger.add_argument("--search", help="only messages whose JSON holds this text (any case)")
    debugger.add_argument("--type", choices=CALL_TYPES, help="only messages of this type")
    debugger.add_argument("--limit", type=int, default=20, help="messages to show (default 20, at most 500)")
    debugger.add_argument("--raw", action="store_true", help="the messages as archived, one JSON a line")
    _add_target_options(debugger)
    debugger.set_defaults(run=run_debugger)

    usage = commands.add_parser("usage", help="API calls, events and bytes per day; MTUs per month")
    usage.add_argument("--source", help="one source, by id or name (default: every source of the region)")
    usage.add_argument("--month", help="YYYY-MM, UTC (default: this month)")
    _add_target_options(usage)
    usage.set_defaults(run=run_usage)

    users = commands.add_parser("users", help="suppress and delete users (GDPR / CCPA requests)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    for name, help_text in (("suppress", "drop these users' events from now on"), ("unsuppress", "take them again")):
        command = user_commands.add_parser(name, help=help_text)
        command.add_argument("user_ids", nargs="*", metavar="USER_ID")
        command.add_argument("--anonymous-id", action="append", help="an anonymousId too (repeatable)")
        command.add_argument(
            "--days", type=int, default=30, help="with the anonymousIds the archive ties to them in this many days"
        )
        _add_target_options(command)
    _add_target_options(user_commands.add_parser("suppressed", help="who is suppressed"))
    delete = user_commands.add_parser(
        "delete", help="delete these users: suppress, rewrite the archive without them, ask each destination"
    )
    delete.add_argument("user_ids", nargs="*", metavar="USER_ID")
    delete.add_argument("--anonymous-id", action="append", help="an anonymousId too (repeatable)")
    delete.add_argument("--wait", action="store_true", help="show progress until it finishes, then the report")
    _add_target_options(delete)
    deletions = user_commands.add_parser("deletions", help="the deletions of the region, newest first")
    deletions.add_argument("--limit", type=int, default=20)
    _add_target_options(deletions)
    deletion = user_commands.add_parser("deletion", help="one deletion's audit record")
    deletion.add_argument("deletion_id")
    _add_target_options(deletion)
    users.set_defaults(run=run_users)

    console = commands.add_parser("console", help="a web page on 127.0.0.1: debugger, delivery, replays, usage")
    console.add_argument("--port", type=int, default=8090, help="port on 127.0.0.1 (default 8090)")
    _add_target_options(console)
    console.set_defaults(run=run_console)

    lake = commands.add_parser("lake", help="the lake: Segment-schema Parquet tables of the archive")
    lake_commands = lake.add_subparsers(dest="lake_command", required=True)
    load = lake_commands.add_parser("load", help="load archive hours into the lake now (what the hourly run does)")
    load.add_argument("--source", help="one source (default: every source the lake holds)")
    load.add_argument("--from", dest="start", help="received time, inclusive (ISO-8601; default: an hour ago)")
    load.add_argument("--to", dest="end", help="received time (ISO-8601; default: now, the open hour as it is)")
    _add_target_options(load)
    tables = lake_commands.add_parser("tables", help="the lake's tables, their columns and row counts")
    tables.add_argument("--source", help="only tables holding this source's rows, counted for it")
    _add_target_options(tables)
    query = lake_commands.add_parser("query", help="run SQL: Athena in a region, DuckDB on the local stack")
    query.add_argument("sql", help='e.g. "SELECT event, count(*) FROM tracks GROUP BY 1"')
    _add_target_options(query)
    lake.set_defaults(run=run_lake)

    alerts = commands.add_parser("alerts", help="the workspace's alerts, their state, and whom they notify")
    _add_target_options(alerts)
    alerts.set_defaults(run=run_alerts)
    return parser


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help=f"AWS region of the stack (default: AWS_REGION or {constants.DEFAULT_REGION})")
    parser.add_argument(
        "--endpoint-url",
        help="AWS endpoint, e.g. http://127.0.0.1:4566 for the local stack (default: AWS_ENDPOINT_URL)",
    )


def fail(message: str) -> int:
    print(f"switchyard: {message}", file=sys.stderr)
    return 2


def run_apply(args: argparse.Namespace) -> int:
    from switchyard.cli.alerts import alert_manager
    from switchyard.cli.targets import TargetError, resolve_target
    from switchyard.config.apply import apply_workspace
    from switchyard.config.credentials import DestinationCredentialStore
    from switchyard.config.store import ConcurrentApplyError, ConfigStore
    from switchyard.config.workspace import ConfigError, load_workspace
    from switchyard.functions.secrets import FunctionSecrets

    try:
        load_workspace(args.file)  # refuse a bad file before touching any region
        target = resolve_target(args.region, args.endpoint_url)
        store = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb"))
        ssm = target.client("ssm")
        result = apply_workspace(
            args.file,
            store,
            FunctionSecrets(ssm, target.region),
            DestinationCredentialStore(ssm, target.region),
            region=target.region,
            alerts=alert_manager(target),
        )
    except (ConfigError, TargetError, ConcurrentApplyError) as error:
        return fail(str(error))
    for warning in result.warnings:
        print(f"switchyard: warning: {warning}", file=sys.stderr)
    print(f"{target.region}: {result.summary()}")
    return 0


def run_outputs(args: argparse.Namespace) -> int:
    from switchyard.cli.targets import TargetError, resolve_target

    try:
        target = resolve_target(args.region, args.endpoint_url)
    except TargetError as error:
        return fail(str(error))
    for key, value in sorted(target.outputs.items()):
        print(f"{key}\t{value}")
    return 0


def run_tail(args: argparse.Namespace) -> int:
    from switchyard.cli.tail import tail_stream
    from switchyard.cli.targets import TargetError, resolve_target

    try:
        target = resolve_target(args.region, args.endpoint_url)
        stream = target.output(constants.OUTPUT_EVENTS_STREAM)
    except TargetError as error:
        return fail(str(error))
    tail_stream(target.client("kinesis"), stream, from_start=args.from_start, limit=args.limit)
    return 0


def run_delivery(args: argparse.Namespace) -> int:
    from switchyard.cli.delivery import delivery_command

    return delivery_command(args, fail)


def run_dlq(args: argparse.Namespace) -> int:
    from switchyard.cli.reports import format_dead_letters
    from switchyard.cli.targets import TargetError, resolve_target
    from switchyard.delivery.deadletters import DeadLetters
    from switchyard.delivery.queue import DeliveryQueue
    from switchyard.delivery.table import DeliveryTable

    try:
        target = resolve_target(args.region, args.endpoint_url)
        letters = DeadLetters(DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb")))
        queue_url = target.output(constants.OUTPUT_DELIVERY_QUEUE)
    except TargetError as error:
        return fail(str(error))
    if args.dlq_command == "list":
        print(format_dead_letters(args.destination, letters.list(args.destination)))
        return 0
    count = letters.redrive(args.destination, DeliveryQueue(queue_url, target.client("sqs")))
    print(f"{args.destination}: {count} dead letter(s) sent again")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from switchyard.cli.replays import replay_command

    return replay_command(args, fail)


def run_functions(args: argparse.Namespace) -> int:
    from switchyard.cli.functions import functions_command

    return functions_command(args, fail)


def run_destinations(args: argparse.Namespace) -> int:
    from switchyard.cli.destinations import destinations_command

    return destinations_command(args, fail)


def run_fql(args: argparse.Namespace) -> int:
    from switchyard.cli.fql import fql_command

    return fql_command(args, fail)


def run_filters(args: argparse.Namespace) -> int:
    from switchyard.cli.filters import filters_command

    return filters_command(args, fail)


def run_plan(args: argparse.Namespace) -> int:
    from switchyard.cli.plans import plan_check_command

    return plan_check_command(args, fail)


def run_violations(args: argparse.Namespace) -> int:
    from switchyard.cli.plans import format_violations
    from switchyard.cli.reports import parse_period
    from switchyard.cli.targets import TargetError, resolve_target
    from switchyard.delivery.table import DeliveryTable
    from switchyard.router.violations import read_violations

    try:
        period = parse_period(args.since)
        target = resolve_target(args.region, args.endpoint_url)
        table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), target.client("dynamodb"))
    except (TargetError, ValueError) as error:
        return fail(str(error))
    print(format_violations(read_violations(table, args.source, period)))
    return 0


def run_debugger(args: argparse.Namespace) -> int:
    from switchyard.cli.debugger import debugger_command

    return debugger_command(args, fail)


def run_usage(args: argparse.Namespace) -> int:
    from switchyard.cli.usage import usage_command

    return usage_command(args, fail)


def run_privacy(args: argparse.Namespace) -> int:
    from switchyard.cli.privacy import inventory_command

    return inventory_command(args, fail)


def run_users(args: argparse.Namespace) -> int:
    from switchyard.cli.users import users_command

    return users_command(args, fail)


def run_console(args: argparse.Namespace) -> int:
    from switchyard.cli.console import console_command

    return console_command(args, fail)


def run_lake(args: argparse.Namespace) -> int:
    from switchyard.cli.lake import lake_command

    return lake_command(args, fail)


def run_alerts(args: argparse.Namespace) -> int:
    from switchyard.cli.alerts import alerts_command

    return alerts_command(args, fail)


def run_dev(args: argparse.Namespace) -> int:
    from switchyard.config.workspace import ConfigError, load_workspace
    from switchyard.devstack.stack import LocalStack, quiet_library_logs

    try:
        workspace = load_workspace(args.config)
    except ConfigError as error:
        return fail(str(error))
    quiet_library_logs()
    stack = LocalStack(
        args.config,
        port=args.port,
        aws_port=args.aws_port,
        region=args.region,
        verbose=args.verbose,
        demo_receiver_port=args.demo_receiver,
    )
    try:
        stack.start()
        console = start_console(stack, args.console_port)
    except OSError as error:
        stack.stop()
        return fail(
            f"cannot start the local stack: {error} (is another one running? try --port/--aws-port/--console-port)"
        )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(banner(stack, workspace, console.url), flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the local stack...", flush=True)
        console.stop()
        stack.stop()
    return 0


def start_console(stack, port: int):  # type: ignore[no-untyped-def]
    """The console over the local stack, as `switchyard console --endpoint-url` would serve it."""
    from switchyard.cli.targets import resolve_target
    from switchyard.console.app import create_app
    from switchyard.console.data import ConsoleData
    from switchyard.console.server import ConsoleServer

    data = ConsoleData.from_target(resolve_target(stack.region, stack.aws_endpoint))
    return ConsoleServer(create_app(data), port).start()


# Printed for the operator to run, never executed here.
LAKE_EXAMPLE_QUERY = '"SELECT event_text, count(*) FROM tracks GROUP BY 1"'


def banner(stack, workspace, console_url: str) -> str:  # type: ignore[no-untyped-def]
    source = next((s for s in workspace.sources if s.enabled), None)
    lines = [
        f"Switchyard local stack ({stack.region}) is running.",
        f"  tracking API   {stack.api_url}   (point an SDK's host here)",
        f"  emulated AWS   {stack.aws_endpoint}   (AWS_ENDPOINT_URL={stack.aws_endpoint})",
        f"  console        {console_url}   (Debugger, Delivery Overview, replays, usage)",
        f"  workspace      {workspace.workspace}: {stack.applied.summary() if stack.applied else ''}",
    ]
    lines += [f"  warning        {warning}" for warning in (stack.applied.warnings if stack.applied else ())]
    if stack.receiver is not None:
        lines.append(f"  demo receiver  {stack.receiver.url}   (prints each event a webhook delivers)")
    if source is not None:
        lines += [
            f"  demo source    {source.id}   write key: {source.write_key}",
            "",
            "Send an event:",
            f"  curl -u {source.write_key}: -H 'Content-Type: application/json' \\",
            '       -d \'{"userId": "user-1", "event": "Signed Up", "properties": {"plan": "pro"}}\' \\',
            f"       {stack.api_url}/v1/track",
            "Watch events arrive in the stream (another terminal):",
            f"  .venv/bin/switchyard tail --from-start --endpoint-url {stack.aws_endpoint}",
            "Or the source's latest messages as archived, and its usage:",
            f"  .venv/bin/switchyard debugger {source.id} --follow --endpoint-url {stack.aws_endpoint}",
            f"  .venv/bin/switchyard usage --endpoint-url {stack.aws_endpoint}",
        ]
    destination = next((d for d in workspace.destinations if d.enabled), None)
    if destination is not None:
        lines += [
            "What a destination got, and what its filters dropped:",
            f"  .venv/bin/switchyard delivery {destination.id} --endpoint-url {stack.aws_endpoint}",
        ]
    planned = next((source for plan in workspace.tracking_plans for source in plan.sources), None)
    if planned is not None:
        lines += [
            f"What the tracking plan of {planned} found:",
            f"  .venv/bin/switchyard violations {planned} --endpoint-url {stack.aws_endpoint}",
        ]
    lines += [
        "Load what the archive holds into the lake, and query it (DuckDB locally):",
        f"  .venv/bin/switchyard lake load --endpoint-url {stack.aws_endpoint}",
        f"  .venv/bin/switchyard lake query {LAKE_EXAMPLE_QUERY} --endpoint-url {stack.aws_endpoint}",
    ]
    lines += ["", "Ctrl-C stops it."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
