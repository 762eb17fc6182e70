"""Per-source and per-destination CloudWatch metrics name a bounded set of ids: the first
METRIC_NAMED_IDS of each in the workspace file, the others counted together under `_other`."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.constants import METRIC_NAMED_IDS, OTHER_METRIC_NAME
from switchyard.delivery.policy import Action, Decision
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.service import Outcome, QueuedDelivery
from switchyard.devstack.lambda_runtime import load_handler_module
from switchyard.ingest.service import IngestService

COUNT = METRIC_NAMED_IDS + 5


def workspace() -> CompiledWorkspace:
    sources = "\n".join(f"  - {{id: s{i}, name: S{i}, write_key: wk_metric_{i:03d}_xx}}" for i in range(COUNT))
    destinations = "\n".join(
        f'  - {{id: d{i}, type: webhook, sources: [s0], settings: {{url: "https://example.com/{i}"}}}}'
        for i in range(COUNT)
    )
    return compile_workspace(parse_workspace(f"workspace: big\nsources:\n{sources}\ndestinations:\n{destinations}\n"))


def test_the_first_ids_of_the_workspace_are_named_and_the_rest_share_one_name():
    compiled = workspace()
    named = {compiled.source_metric_name(f"s{i}") for i in range(COUNT)}
    assert named == {f"s{i}" for i in range(METRIC_NAMED_IDS)} | {OTHER_METRIC_NAME}
    assert compiled.destination_metric_name("d0") == "d0"
    assert compiled.destination_metric_name(f"d{METRIC_NAMED_IDS}") == OTHER_METRIC_NAME
    assert compiled.source_metric_name("removed-since") == OTHER_METRIC_NAME


def test_ingest_names_the_source_and_falls_back_when_the_configuration_is_unreadable():
    compiled = workspace()
    assert IngestService(lambda: compiled, stream=None, region="eu-west-1").metric_source("s1") == "s1"

    def unreadable() -> CompiledWorkspace:
        raise RuntimeError("config table throttled")

    assert IngestService(unreadable, stream=None, region="eu-west-1").metric_source("s1") == OTHER_METRIC_NAME


def queued(message_id: str, destination: str) -> QueuedDelivery:
    return QueuedDelivery(message_id, DeliveryRequest(destination, {"messageId": message_id}), 1, 0.0)


@pytest.fixture(scope="module")
def delivery() -> ModuleType:
    """Loaded outside any one test's captured output: its logger keeps the stream it was given."""
    return load_handler_module("delivery")


def test_delivery_counts_unnamed_destinations_together_without_their_filters(
    delivery: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    compiled = workspace()
    last, before_last = f"d{COUNT - 1}", f"d{COUNT - 2}"
    items = [queued("a", "d0"), queued("b", last), queued("c", before_last)]
    outcomes: dict[str, Outcome] = {
        "a": Outcome(Decision(Action.DONE)),
        "b": Outcome(Decision(Action.DONE)),
        "c": Outcome(Decision(Action.SKIP), filtered_by="No internal traffic"),
    }
    delivery.emit_metrics(items, outcomes, compiled.destination_metric_name)
    documents: list[dict[str, Any]] = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    per_destination = {doc["destination"]: doc for doc in documents if "destination" in doc and "filter" not in doc}
    assert set(per_destination) == {"d0", OTHER_METRIC_NAME}
    assert (per_destination[OTHER_METRIC_NAME]["Delivered"], per_destination[OTHER_METRIC_NAME]["Filtered"]) == (
        [1.0],
        [1.0],
    )
    assert not [doc for doc in documents if "filter" in doc], "no per-filter figures under the shared name"
