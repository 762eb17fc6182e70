"""`switchyard plan check <source> --config FILE --event ev.json`: what the source's tracking plan
finds in an event and what its controls would do; `switchyard violations <source> [--since 1h]`:
what the plan found in a region, per event and violation type, with samples."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from switchyard.cli.filters import read_event
from switchyard.cli.reports import short
from switchyard.config.workspace import ConfigError, compile_workspace, load_workspace
from switchyard.router.plans import TrackingPlans, violation_events
from switchyard.router.schema import SchemaFilter
from switchyard.router.violations import ViolationReport


def plan_check_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """Exit 0 when the event conforms, 1 when the plan has something to say (violations, unplanned
    properties omitted, or blocked)."""
    try:
        workspace = compile_workspace(load_workspace(args.config))
    except ConfigError as error:
        return fail(str(error))
    source = workspace.source(args.source_id)
    if source is None:
        return fail(f"{args.config}: no source {args.source_id!r}")
    check = TrackingPlans().for_source(workspace, args.source_id)
    if check is None:
        return fail(f"{args.config}: source {args.source_id!r} is in no tracking plan")
    event = read_event(args.event)
    if isinstance(event, str):
        return fail(event)
    plan, controls = check.plan, check.plan.controls
    message = {**event, "projectId": args.source_id}
    if source.schema is not None:  # the router applies the source's schema filters first
        filtered = SchemaFilter(source.schema).apply(message)
        if filtered.message is None:
            print(f"blocked by the source's schema filters ({filtered.reason}) before the plan")
            return 1
        message = filtered.message
    checked = check.check(message)
    if checked is None:
        print(f"{plan.id} ({plan.name}) on source {args.source_id}: conforms, no violations")
        print("the event goes on as:")
        print(json.dumps(message, indent=2, ensure_ascii=False))
        return 0
    print(f"{plan.id} ({plan.name}) on source {args.source_id}: {checked.label}")
    print(f"violations: {len(checked.violations)}")
    for violation in checked.violations:
        print(f"  {violation.type:<22} {violation.field or '(the message)':<32} {violation.description}")
    if checked.message is None:
        where = controls.forward_blocked_to
        fate = f"forwarded to source {where}" if where else "archived nowhere, delivered nowhere"
        print(f"blocked ({checked.blocked}): {fate}")
    else:
        if checked.omitted:
            print(f"omitted: {', '.join(checked.omitted)}")
        print("the event goes on as:")
        print(json.dumps(checked.message, indent=2, ensure_ascii=False))
    if checked.violations and controls.forward_violations_to:
        forwarded = violation_events(message, checked, plan, source.name, controls.forward_violations_to)
        print(f"forwarded to source {controls.forward_violations_to}: {len(forwarded)} 'Violation Generated' event(s)")
    return 1


def format_violations(report: ViolationReport) -> str:
    lines = [
        f"Tracking plan violations for {report.source_id}, {report.since:%Y-%m-%d %H:%M} to {report.until:%H:%M} UTC",
    ]
    if not report.violations and not report.blocked:
        lines.append("  none")
        return "\n".join(lines)
    for reason, count in sorted(report.blocked.items()):
        lines.append(f"  blocked ({reason}){'':<10} {count}")
    for (label, kind), count in report.violations.items():
        lines.append(f"  {label:<28} {kind:<22} {count}")
    if report.samples:
        lines.append("  latest samples:")
        for key, sample in sorted(report.samples.items()):
            lines.append(f"    {key}")
            if "violation" in sample:
                lines.append(f"      violation  {sample['violation'].get('description')}")
            lines.append(f"      received   {short(sample.get('received'))}")
    return "\n".join(lines)
