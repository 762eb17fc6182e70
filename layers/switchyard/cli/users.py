"""`switchyard users suppress|unsuppress|suppressed`: the users whose events ingest drops (and
`delete|deletions|deletion`, in cli/deletions.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from switchyard import constants
from switchyard.config.store import ConfigStore
from switchyard.privacy.suppression import ANONYMOUS, USER, SuppressionStore, entries
from switchyard.privacy.ties import tied_anonymous_ids


def users_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    from switchyard.cli.targets import TargetError, resolve_target

    try:
        target = resolve_target(args.region, args.endpoint_url)
        if args.users_command in ("delete", "deletions", "deletion"):
            from switchyard.cli.deletions import deletion_command

            return deletion_command(args, target, fail)
        config_table = target.output(constants.OUTPUT_CONFIG_TABLE)
        store = SuppressionStore(config_table, target.client("dynamodb"))
        if args.users_command == "suppressed":
            return _list(store)
        user_ids, anonymous_ids = set(args.user_ids), set(args.anonymous_id or ())
        if not user_ids and not anonymous_ids:
            return fail("name at least one userId (or --anonymous-id)")
        if user_ids and args.days > 0:  # unsuppress takes back what suppress tied to them, too
            sources = [source.id for source in ConfigStore(config_table, target.client("dynamodb")).current().sources]
            bucket = target.output(constants.OUTPUT_ARCHIVE_BUCKET)
            ties = tied_anonymous_ids(target.client("s3"), bucket, sources, user_ids, args.days)
            found = len(ties.anonymous_ids)
            print(
                f"read {ties.objects_read} archive object(s) of {args.days} day(s): {found} anonymousId(s) tied to them"
            )
            anonymous_ids |= ties.anonymous_ids
    except TargetError as error:
        return fail(str(error))
    ids = entries(user_ids, anonymous_ids)
    if args.users_command == "suppress":
        store.add(ids)
        within = f"{constants.DEFAULT_CONFIG_CACHE_SECONDS:g} s"
        print(f"suppressed {len(user_ids)} userId(s), {len(anonymous_ids)} anonymousId(s); dropped within {within}")
    else:
        store.remove(ids)
        print(f"no longer suppressed: {len(user_ids)} userId(s) and {len(anonymous_ids)} anonymousId(s)")
    return 0


def _list(store: SuppressionStore) -> int:
    suppressed = sorted(store.load())
    if not suppressed:
        print("nobody is suppressed")
    for entry in suppressed:
        if entry.startswith(USER):
            print(f"userId\t{entry.removeprefix(USER)}")
        elif entry.startswith(ANONYMOUS):
            print(f"anonymousId\t{entry.removeprefix(ANONYMOUS)}")
    return 0
