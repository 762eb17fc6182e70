"""`switchyard functions url|test`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from switchyard import constants
from switchyard.cli.targets import TargetError, resolve_target
from switchyard.config.workspace import ConfigError, function_path, load_workspace
from switchyard.functions.runtime import RETRYABLE, SOURCE, FunctionRunner, load_module


def functions_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    if args.functions_command == "url":
        return print_url(args, fail)
    return run_test(args, fail)


def print_url(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        target = resolve_target(args.region, args.endpoint_url)
        webhooks = (
            webhooks_url(target.outputs)
            or target.output(constants.OUTPUT_API_ENDPOINT).rstrip("/") + constants.FUNCTION_WEBHOOK_PATH
        )
        ssm = target.client("ssm")
        name = constants.function_parameter(target.region, args.function_id, "token")
        token = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except TargetError as error:
        return fail(str(error))
    except ssm.exceptions.ParameterNotFound:
        return fail(f"no source function {args.function_id!r} applied in {target.region} (switchyard apply first)")
    print(f"{webhooks}/{args.function_id}?token={token}")
    return 0


def webhooks_url(outputs: dict[str, str]) -> str | None:
    """Where the region's webhooks are: /v1/functions behind the REST API (the `waf` stack option),
    /functions on the HTTP API. Stacks before that output, and the local stack, have only ApiEndpoint."""
    url = outputs.get(constants.OUTPUT_FUNCTION_WEBHOOKS)
    return url.rstrip("/") if url else None


def run_test(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        spec = load_workspace(args.config)
    except ConfigError as error:
        return fail(str(error))
    function = next((f for f in spec.functions if f.id == args.function_id), None)
    if function is None:
        return fail(f"{args.config}: no function {args.function_id!r}")
    runner = FunctionRunner(load_module(function_path(args.config, function)), function.kind, function.timeout_seconds)
    settings = {**function.settings, **function.secrets}
    payload = json.loads((args.request or args.event).read_text())
    if function.kind == SOURCE:
        if not args.request:
            return fail("a source function is tested with --request")
        request = payload if isinstance(payload, dict) and "body" in payload else {"body": json.dumps(payload)}
        request.setdefault("headers", {"content-type": "application/json"})
        result = runner.run_request(request, settings)
        print(json.dumps({"emitted": result.messages}, indent=2))
        report(result.code, result.message)
        return 0 if not result.code else 1
    events = payload if isinstance(payload, list) else [payload]
    results = runner.run_events(events, settings)
    print(json.dumps([result.to_dict() for result in results], indent=2))
    for result in results:
        report(result.code, result.message, dropped=result.status == "dropped")
    return 0 if all(result.status != "error" for result in results) else 1


def report(code: str, message: str, *, dropped: bool = False) -> None:
    if dropped:
        print(f"outcome: dropped on purpose ({message}); not delivered, not retried")
    elif not code:
        print("outcome: ok")
    else:
        retried = "retried with backoff" if code in RETRYABLE else "not retried"
        print(f"outcome: {code} ({message}); {retried}")
