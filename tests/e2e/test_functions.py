"""User functions end to end: a source function's webhook, an insert function, a destination function."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from switchyard.cli.main import main
from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.stats import read_report
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import Receivers, wait_until

pytestmark = pytest.mark.e2e


def function_url(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["functions", "url", "billing-hook", "--endpoint-url", stack.aws_endpoint]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith(f"{stack.api_url}/functions/billing-hook?token=")
    return url


def run_events(receiver: Any, run: str) -> list[dict[str, Any]]:
    return [
        e
        for e in receiver.delivered_events()
        if (e.get("properties") or {}).get("run") == run or (e.get("traits") or {}).get("run") == run
    ]


def for_user(receiver: Any, user: str) -> list[dict[str, Any]]:
    return [e for e in receiver.delivered_events() if e.get("userId") == user]


def post_webhook(url: str, **body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=15)


def test_a_webhook_becomes_events_enriched_delivered_and_archived(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    run = uuid.uuid4().hex[:8]
    customer = f"cus-{run}"
    response = post_webhook(function_url(local_stack, capsys), customer=customer, amount=42, plan="gold", run=run)
    assert (response.status_code, response.json()) == (200, {"success": True, "accepted": 2})
    assert wait_until(lambda: len(for_user(receivers.enriched, customer)) == 2, timeout=30)
    by_type = {e["type"]: e for e in for_user(receivers.enriched, customer)}
    assert by_type["identify"]["traits"] == {"plan": "pro-gold", "enriched": "enriched-by-switchyard"}
    assert by_type["track"]["properties"]["enriched"] == "enriched-by-switchyard"
    assert by_type["track"]["projectId"] == "billing", "emitted messages count as their source's"
    assert by_type["track"]["receivedAt"] and by_type["track"]["messageId"]
    # The destination function got them too, in one batch, without the insert function's changes.
    assert wait_until(lambda: len(for_user(receivers.warehouse, customer)) == 2, timeout=30)
    assert all(
        "enriched" not in (e.get("properties") or {})
        for e in for_user(receivers.warehouse, customer)
        if e["type"] == "track"
    )


def test_form_encoded_webhooks_are_accepted(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    customer = f"cus-form-{uuid.uuid4().hex[:6]}"
    response = requests.post(
        function_url(local_stack, capsys),
        data=urlencode({"customer": customer, "amount": "7"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    assert wait_until(lambda: len(for_user(receivers.enriched, customer)) == 2, timeout=30)


def test_a_destination_function_receives_batches(local_stack: LocalStack, receivers: Receivers):
    run = uuid.uuid4().hex[:8]
    batch = [
        {"type": "track", "userId": f"batch-{run}", "event": "Bulk", "properties": {"run": run, "i": i}}
        for i in range(30)
    ]
    response = requests.post(
        f"{local_stack.api_url}/v1/batch", auth=("wk_e2e_billing_000", ""), json={"batch": batch}, timeout=10
    )
    assert response.status_code == 200
    assert wait_until(lambda: len(for_user(receivers.warehouse, f"batch-{run}")) == 30, timeout=30)
    sizes = [
        len(r.events) for r in receivers.warehouse.accepted if any(e.get("userId") == f"batch-{run}" for e in r.events)
    ]
    assert max(sizes) > 1, f"on_batch got batches, not single events: {sizes}"


def test_insert_function_drops_on_purpose_and_enriches_the_rest(local_stack: LocalStack, receivers: Receivers):
    user = f"drop-{uuid.uuid4().hex[:6]}"
    batch = [{"type": "track", "userId": user, "event": name, "properties": {}} for name in ("Internal Test", "Kept")]
    requests.post(f"{local_stack.api_url}/v1/batch", auth=("wk_e2e_billing_000", ""), json={"batch": batch}, timeout=10)
    assert wait_until(lambda: len(for_user(receivers.warehouse, user)) == 2, timeout=30)
    assert wait_until(lambda: for_user(receivers.enriched, user), timeout=30)
    time.sleep(2)
    assert [e["event"] for e in for_user(receivers.enriched, user)] == ["Kept"]


@pytest.mark.parametrize(
    ("fault", "label"), [("invalid", "discarded.message_rejected"), ("crash", "discarded.bad_request")]
)
def test_final_function_errors_are_not_retried(local_stack: LocalStack, receivers: Receivers, fault: str, label: str):
    assert local_stack.resources is not None
    user = f"{fault}-{uuid.uuid4().hex[:6]}"
    event = {"type": "track", "userId": user, "event": "Faulty", "properties": {"insert_fault": fault}}
    requests.post(f"{local_stack.api_url}/v1/track", auth=("wk_e2e_billing_000", ""), json=event, timeout=10)
    table = DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb"))
    report = wait_until(
        lambda: (r := read_report(table, "enriched-hook", timedelta(hours=1))).errors.get(label) and r, timeout=30
    )
    assert report, f"{label} is counted"
    assert for_user(receivers.enriched, user) == []


def test_unsupported_event_types_are_not_delivered(local_stack: LocalStack, receivers: Receivers):
    user = f"page-{uuid.uuid4().hex[:6]}"
    requests.post(
        f"{local_stack.api_url}/v1/page",
        auth=("wk_e2e_billing_000", ""),
        json={"userId": user, "name": "Pricing"},
        timeout=10,
    )
    assert wait_until(lambda: for_user(receivers.warehouse, user), timeout=30), "other destinations still get it"
    time.sleep(2)
    assert for_user(receivers.enriched, user) == [], "no on_page in the insert function: unsupported_event_type"


def test_retry_error_is_retried_until_delivered(local_stack: LocalStack, receivers: Receivers):
    user = f"retry-{uuid.uuid4().hex[:6]}"
    event = {"type": "track", "userId": user, "event": "Busy", "properties": {"insert_fault": "retry-once"}}
    requests.post(f"{local_stack.api_url}/v1/track", auth=("wk_e2e_billing_000", ""), json=event, timeout=10)
    assert wait_until(lambda: for_user(receivers.enriched, user), timeout=30)


def test_a_function_that_loops_forever_is_stopped_and_the_pipeline_keeps_flowing(
    local_stack: LocalStack, receivers: Receivers
):
    assert local_stack.resources is not None
    user = f"loop-{uuid.uuid4().hex[:6]}"
    looping = {"type": "track", "userId": user, "event": "Forever", "properties": {"insert_fault": "loop"}}
    requests.post(f"{local_stack.api_url}/v1/track", auth=("wk_e2e_billing_000", ""), json=looping, timeout=10)
    time.sleep(1.5)
    after = f"after-{uuid.uuid4().hex[:6]}"
    requests.post(
        f"{local_stack.api_url}/v1/track",
        auth=("wk_e2e_billing_000", ""),
        json={"type": "track", "userId": after, "event": "Normal", "properties": {}},
        timeout=10,
    )
    assert wait_until(lambda: for_user(receivers.enriched, after), timeout=30), "later events still flow"
    letters = DeadLetters(DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb")))
    dead = wait_until(
        lambda: [d for d in letters.list("enriched-hook") if d.request.event.get("userId") == user], timeout=45
    )
    assert dead and dead[0].last_error == "awaiting_retry.function_timeout", "timed out, retried, then given up"


@pytest.mark.parametrize(
    ("how", "status", "code"),
    [
        ("wrong token", 401, "invalid_token"),
        ("unknown function", 401, "invalid_token"),
        ("malformed", 400, "invalid_json"),
        ("NaN in a text/plain body", 400, "message_rejected"),
        ("oversize", 400, "request_too_large"),
        ("rejected by the function", 400, "message_rejected"),
        ("the function emits NaN", 400, "invalid_function_output"),
        ("the function crashes", 400, "bad_request"),
    ],
)
def test_bad_webhook_requests(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], how: str, status: int, code: str
):
    url = function_url(local_stack, capsys)
    headers = {"Content-Type": "application/json"}
    if how == "wrong token":
        response = requests.post(url.split("?")[0] + "?token=nope", json={"customer": "x"}, timeout=10)
    elif how == "unknown function":
        response = requests.post(url.replace("/billing-hook?", "/no-such-hook?"), json={"customer": "x"}, timeout=10)
    elif how == "malformed":
        response = requests.post(url, data=b'{"customer": ', headers=headers, timeout=10)
    elif how == "NaN in a text/plain body":
        plain = {"Content-Type": "text/plain"}
        response = requests.post(url, data=b'{"customer": "x", "amount": NaN}', headers=plain, timeout=10)
    elif how == "oversize":
        response = requests.post(url, json={"customer": "x", "pad": "x" * 600_000}, timeout=10)
    elif how == "the function emits NaN":
        response = requests.post(url, json={"kind": "nan"}, timeout=10)
    elif how == "the function crashes":
        response = requests.post(url, json={"kind": "crash"}, timeout=10)
    else:
        response = requests.post(url, json={"kind": "invalid"}, timeout=10)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert set(response.json()) == {"code", "message"}
    assert "whsec_e2e" not in response.text and "KeyError" not in response.text, "nothing of the function leaks"


def test_an_unknown_function_is_answered_exactly_as_a_wrong_token(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
):
    url = function_url(local_stack, capsys)
    wrong_token = requests.post(url.split("?")[0] + "?token=nope", json={}, timeout=10)
    unknown = requests.post(url.replace("/billing-hook?", "/no-such-hook?"), json={}, timeout=10)
    assert (unknown.status_code, unknown.json()) == (wrong_token.status_code, wrong_token.json())


def test_a_function_file_with_a_syntax_error_is_refused_at_apply(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
):
    folder = local_stack.config_path.parent
    (folder / "functions" / "broken.py").write_text("def on_track(event, settings)\n    return event\n")
    broken = folder / "broken-functions.yaml"
    broken.write_text(
        local_stack.config_path.read_text().replace("file: functions/enrich.py", "file: functions/broken.py")
    )
    assert main(["apply", str(broken), "--endpoint-url", local_stack.aws_endpoint]) == 2
    error = capsys.readouterr().err
    assert "function 'enrich'" in error and "broken.py:1: syntax error" in error


def test_functions_test_runs_a_function_as_the_pipeline_would(
    local_stack: LocalStack, tmp_path, capsys: pytest.CaptureFixture[str]
):
    event = tmp_path / "event.json"
    event.write_text('{"type": "track", "event": "Internal Test", "userId": "u", "messageId": "m", "properties": {}}')
    assert main(["functions", "test", "enrich", "--config", str(local_stack.config_path), "--event", str(event)]) == 0
    assert "dropped on purpose (internal events stay inside)" in capsys.readouterr().out
    request = tmp_path / "request.json"
    request.write_text('{"customer": "cus_1", "amount": 3}')
    assert (
        main(["functions", "test", "billing-hook", "--config", str(local_stack.config_path), "--request", str(request)])
        == 0
    )
    printed = capsys.readouterr().out
    assert '"event": "Invoice Paid"' in printed and "outcome: ok" in printed
