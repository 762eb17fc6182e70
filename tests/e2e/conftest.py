"""One local stack for the end-to-end package, started inside the test process on free ports,
with webhook receivers standing in for destinations."""

from __future__ import annotations

import logging
import os
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchyard.config.store import CachedWorkspace, ConfigStore
from switchyard.devstack.receiver import Received, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from switchyard.ingest.service import IngestService
from switchyard.ingest.settings import IngestSettings
from switchyard.timeutil import utc_now
from tests.e2e.browser.support import artifacts, browser_page, chromium  # noqa: F401 - fixtures of the browser tests
from tests.support.ports import closed_port
from tests.support.streams import StreamReader

logging.getLogger("werkzeug").setLevel(logging.WARNING)

SECRET = "e2e-signing-secret"
WORKSPACE = """\
workspace: e2e
sources:
  - id: web
    name: Website
    write_key: wk_e2e_web_123
  - id: server
    name: Server SDKs
    write_key: wk_e2e_server_456
  - id: retired
    name: Retired app
    write_key: wk_e2e_retired_789
    enabled: false
  - id: lab
    name: Fault lab
    write_key: wk_e2e_lab_000
  - id: iso
    name: Isolation
    write_key: wk_e2e_iso_000
  - id: history
    name: Replay history
    write_key: wk_e2e_history_000
  - id: billing
    name: Billing webhooks
    write_key: wk_e2e_billing_000
  - id: amp
    name: Amplitude traffic
    write_key: wk_e2e_amp_000
  - id: mix
    name: Mixpanel traffic
    write_key: wk_e2e_mix_000
  - id: ga4
    name: GA4 traffic
    write_key: wk_e2e_ga4_000
  - id: ph
    name: PostHog traffic
    write_key: wk_e2e_ph_000
  - id: bus
    name: EventBridge traffic
    write_key: wk_e2e_bus_000
  - id: hose
    name: Firehose traffic
    write_key: wk_e2e_hose_000
  - id: gated
    name: Schema-filtered app
    write_key: wk_e2e_gated_000
    schema:
      block_events: [Debug Ping, "Legacy *"]
      block_screens: true
      omit_traits: [ssn]
  - id: filtered
    name: Destination-filtered app
    write_key: wk_e2e_filtered_000
  - id: planned
    name: Planned app
    write_key: wk_e2e_planned_000
  - id: plan-qa
    name: Plan violations
    write_key: wk_e2e_plan_qa_000
  - id: plan-quarantine
    name: Plan quarantine
    write_key: wk_e2e_plan_quarantine_0
  - id: consented
    name: Consent-managed app
    write_key: wk_e2e_consented_000
    consent_default: deny
  - id: personal
    name: App with personal data
    write_key: wk_e2e_personal_000
  - id: private
    name: App with suppressed users
    write_key: wk_e2e_private_000
"""

# The tool destinations' credentials (tests/e2e/test_destination_tools.py). Those written as
# `{env: VAR}` in the workspace file are put in the environment before the stack applies it.
AMPLITUDE_API_KEY = "amp-e2e-key-5f1c09d2"
MIXPANEL_PROJECT_TOKEN = "mp-e2e-token-a93e71b4"
MIXPANEL_API_SECRET = "mp-e2e-secret-2c8d6f0e"
GA4_MEASUREMENT_ID = "G-E2E0TEST1"
GA4_API_SECRET = "ga4-e2e-secret-7b3a51c8"
POSTHOG_API_KEY = "phc_e2e_key_40d9e6a3"
TOOL_CREDENTIALS = (AMPLITUDE_API_KEY, MIXPANEL_PROJECT_TOKEN, MIXPANEL_API_SECRET, GA4_API_SECRET, POSTHOG_API_KEY)
TOOL_ENVIRONMENT = {"E2E_AMPLITUDE_API_KEY": AMPLITUDE_API_KEY, "E2E_MIXPANEL_API_SECRET": MIXPANEL_API_SECRET}
# Created in the emulator by the tests that use them (Switchyard never creates them).
EVENT_BUS = "switchyard-e2e-bus"
EVENT_BUS_SOURCE = "com.switchyard.e2e"
DELIVERY_STREAM = "switchyard-e2e-hose"

DESTINATIONS = """\
destinations:
  - id: bulk
    name: Bulk Webhook
    type: webhook
    sources: [server]
    settings: {{url: "{bulk}/hook", secret: "{secret}", headers: {{X-Team: growth}}}}
    rate_limit_per_second: 1000
    concurrency: 10
  - id: faults
    type: webhook
    sources: [web]
    settings: {{url: "{faults}/hook", timeout_seconds: 1}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: refused
    type: webhook
    sources: [lab]
    settings: {{url: "http://127.0.0.1:{closed_port}/hook", timeout_seconds: 1}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 1, max_hours: 0.0015}}
  - id: slow
    type: webhook
    sources: [iso]
    settings: {{url: "{slow}/hook", timeout_seconds: 1}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: healthy
    type: webhook
    sources: [iso]
    settings: {{url: "{healthy}/hook", timeout_seconds: 1}}
  - id: gated-hook
    type: webhook
    sources: [gated]
    settings: {{url: "{healthy}/gated"}}
  - id: planned-hook
    type: webhook
    sources: [planned]
    settings: {{url: "{healthy}/planned"}}
  - id: plan-qa-hook
    type: webhook
    sources: [plan-qa, plan-quarantine]
    settings: {{url: "{healthy}/plan-qa"}}
  - id: private-hook
    type: webhook
    sources: [private]
    settings: {{url: "{healthy}/private"}}
  - id: pii-hook
    type: webhook
    sources: [personal]
    pii: {{block: [credit_card, ip_address, employee_id], hash: [email]}}
    settings: {{url: "{healthy}/pii"}}
  - id: ads-hook
    type: webhook
    sources: [consented]
    consent: [Advertising]
    settings: {{url: "{healthy}/ads"}}
  - id: filtered-hook
    type: webhook
    sources: [filtered]
    settings: {{url: "{healthy}/filtered"}}
    filters:
      - title: No internal traffic
        if: 'context.traits.email != null and match(context.traits.email, "*@example.com")'
        actions: [{{type: drop}}]
      - title: Sample page views
        if: 'type = "page"'
        actions: [{{type: sample, percent: 0.5, path: userId}}]
      - title: No PII to analytics
        if: all
        actions: [{{type: drop_properties, fields: {{properties: [email, phone], context.traits: [email]}}}}]
      - title: Only what the tool needs
        if: 'type = "identify"'
        actions: [{{type: allow_properties, fields: {{traits: [plan, company]}}}}]
  - id: backfill
    name: Backfill Warehouse
    type: webhook
    enabled: false
    sources: [history]
    settings: {{url: "{replayed}/hook"}}
    rate_limit_per_second: 1000
    concurrency: 10
  - id: flaky-backfill
    type: webhook
    enabled: false
    sources: [history]
    settings: {{url: "{faults}/hook", timeout_seconds: 1}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: enriched-hook
    type: webhook
    sources: [billing]
    insert_function: enrich
    settings: {{url: "{enriched}/hook"}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 1, max_hours: 0.003}}
  - id: warehouse
    type: function
    function: warehouse-loader
    sources: [billing]
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 1, max_hours: 0.003}}
  - id: amplitude
    type: amplitude
    sources: [amp]
    settings:
      api_key: {{env: E2E_AMPLITUDE_API_KEY}}
      endpoint: "{amplitude}"
      enable_alias: true
      timeout_seconds: 2
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: mixpanel
    type: mixpanel
    sources: [mix]
    settings:
      project_token: "{mixpanel_token}"
      api_secret: {{env: E2E_MIXPANEL_API_SECRET}}
      endpoint: "{mixpanel}"
      group_identifier_traits: [company_id]
      timeout_seconds: 2
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: google-analytics
    type: ga4
    sources: [ga4]
    settings:
      measurement_id: "{ga4_measurement_id}"
      api_secret: "{ga4_secret}"
      endpoint: "{ga4}"
      user_properties: [plan]
      timeout_seconds: 2
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: posthog
    type: posthog
    sources: [ph]
    settings: {{api_key: "{posthog_key}", endpoint: "{posthog}", timeout_seconds: 2}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: event-bus
    type: eventbridge
    sources: [bus]
    settings: {{event_bus_name: {event_bus}, source: {event_bus_source}, detail_type: "segment.{{type}}"}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
  - id: firehose
    type: firehose
    sources: [hose]
    settings: {{delivery_stream_name: {delivery_stream}}}
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: 0.01}}
functions:
  - id: billing-hook
    kind: source
    file: functions/billing_hook.py
    source: billing
    settings: {{plan_prefix: pro}}
    secrets: {{signing_key: whsec_e2e}}
    timeout_seconds: 2
  - id: enrich
    kind: insert
    file: functions/enrich.py
    settings: {{label: enriched-by-switchyard}}
    timeout_seconds: 1
  - id: warehouse-loader
    kind: destination
    file: functions/warehouse_loader.py
    settings: {{url: "{warehouse}/load"}}
    timeout_seconds: 2
tracking_plans:
  - id: planned-app
    name: Planned app plan
    sources: [planned]
    identify: {{type: object, properties: {{traits: {{type: object, properties: {{plan: {{enum: [free, pro]}}}}}}}}}}
    events:
      - name: Order Completed
        properties:
          type: object
          required: [order_id, revenue]
          properties: {{order_id: {{type: string}}, revenue: {{type: number}}, coupon: {{type: string}}}}
    controls:
      unplanned_events: block
      unplanned_properties: omit
      violations: omit
      forward_violations_to: plan-qa
      forward_blocked_to: plan-quarantine
privacy:
  inventory: true
  matchers:
    - {{name: employee_id, keys: [staff_no], pattern: "EMP-[0-9]{{6}}"}}
"""

FUNCTION_FILES = {
    "functions/billing_hook.py": """
from switchyard.functions import InvalidEventPayload, identify, track


def on_request(request, settings):
    body = request.form() if "form" in request.headers.get("content-type", "") else request.json()
    if body.get("kind") == "invalid":
        raise InvalidEventPayload("unknown webhook kind")
    assert settings["signing_key"] == "whsec_e2e", "secrets reach the function"
    if body.get("kind") == "crash":
        raise KeyError(f"no customer for key {settings['signing_key']}")
    if body.get("kind") == "nan":
        track(user_id="u", event="Ratio", properties={"ratio": float("nan")})
        return
    customer = body["customer"]
    identify(user_id=customer, traits={"plan": settings["plan_prefix"] + "-" + body.get("plan", "basic")})
    track(user_id=customer, event=body.get("event", "Invoice Paid"),
          properties={"amount": body.get("amount"), "run": body.get("run"), "insert_fault": body.get("fault")})
""",
    "functions/enrich.py": """
from switchyard.functions import DropEvent, RetryError, ValidationError

attempts = {}


def on_track(event, settings):
    fault = (event.get("properties") or {}).get("insert_fault")
    attempts[event["messageId"]] = attempts.get(event["messageId"], 0) + 1
    if event["event"] == "Internal Test":
        raise DropEvent("internal events stay inside")
    if fault == "retry-once" and attempts[event["messageId"]] == 1:
        raise RetryError("the enrichment service is busy")
    if fault == "loop":
        while True:
            pass
    if fault == "invalid":
        raise ValidationError("amount missing")
    if fault == "crash":
        raise KeyError("oops")
    event["properties"]["enriched"] = settings["label"]
    return event


def on_identify(event, settings):
    event["traits"]["enriched"] = settings["label"]
    return event
""",
    "functions/warehouse_loader.py": """
import json
import urllib.request


def on_batch(events, settings):
    body = json.dumps({"batch": events}).encode()
    request = urllib.request.Request(settings["url"], data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=2).read()
""",
}


class FaultyResponder:
    """Answers by the event's `properties.fault`: each fault hits an event's first attempt only."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, received: Received) -> tuple[int, dict[str, str], bytes]:
        event = received.events[0] if received.events else {}
        fault = (event.get("properties") or {}).get("fault")
        with self._lock:
            attempt = self.seen[event.get("messageId", "")] = self.seen.get(event.get("messageId", ""), 0) + 1
        if fault == "400":
            return 400, {}, b'{"error":"bad payload"}'
        if attempt == 1 and fault == "500-then-200":
            return 500, {}, b'{"error":"oops"}'
        if attempt == 1 and fault == "429-retry-after":
            return 429, {"Retry-After": "2"}, b'{"error":"slow down"}'
        if attempt == 1 and fault == "hang":
            time.sleep(2.5)
        return 200, {}, b'{"ok":true}'


# Tools (and the lake) whose end-to-end test brings its own part of the workspace: `tests/e2e/tools/<name>.yaml`
# holds `sources`, `destinations` and `environment` (for `{env: VAR}` credentials); `{receiver}`
# in it is the URL of the receiver standing in for the tool, `receivers.tools[<name>]`.
TOOL_WORKSPACES = Path(__file__).parent / "tools"


def tool_workspaces() -> dict[str, Path]:
    return {path.stem: path for path in sorted(TOOL_WORKSPACES.glob("*.yaml"))}


class Receivers:
    def __init__(self) -> None:
        self.bulk = WebhookReceiver(0, secret=SECRET)
        self.faults = WebhookReceiver(0, responder=FaultyResponder())
        self.slow = WebhookReceiver(0)
        self.healthy = WebhookReceiver(0)
        self.replayed = WebhookReceiver(0)
        self.enriched = WebhookReceiver(0)
        self.warehouse = WebhookReceiver(0)
        # Standing in for the tools' hosts (`endpoint`); tests swap their responders.
        self.amplitude = WebhookReceiver(0)
        self.mixpanel = WebhookReceiver(0)
        self.ga4 = WebhookReceiver(0)
        self.posthog = WebhookReceiver(0)
        self.tools = {name: WebhookReceiver(0) for name in tool_workspaces()}
        self.closed_port = closed_port()  # `refused` must get refused connections, from no other server

    def all(self) -> list[WebhookReceiver]:
        return [
            self.bulk,
            self.faults,
            self.slow,
            self.healthy,
            self.replayed,
            self.enriched,
            self.warehouse,
            self.amplitude,
            self.mixpanel,
            self.ga4,
            self.posthog,
            *self.tools.values(),
        ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def receivers() -> Iterator[Receivers]:
    found = Receivers()
    for receiver in found.all():
        receiver.start()
    yield found
    for receiver in found.all():
        receiver.stop()


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory, receivers: Receivers) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("workspace")
    for name, code in FUNCTION_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(code)
    config = folder / "workspace.yaml"
    text = WORKSPACE + DESTINATIONS.format(
        bulk=receivers.bulk.url,
        faults=receivers.faults.url,
        slow=receivers.slow.url,
        healthy=receivers.healthy.url,
        replayed=receivers.replayed.url,
        enriched=receivers.enriched.url,
        warehouse=receivers.warehouse.url,
        closed_port=receivers.closed_port,
        secret=SECRET,
        amplitude=receivers.amplitude.url,
        mixpanel=receivers.mixpanel.url,
        mixpanel_token=MIXPANEL_PROJECT_TOKEN,
        ga4=receivers.ga4.url,
        ga4_measurement_id=GA4_MEASUREMENT_ID,
        ga4_secret=GA4_API_SECRET,
        posthog=receivers.posthog.url,
        posthog_key=POSTHOG_API_KEY,
        event_bus=EVENT_BUS,
        event_bus_source=EVENT_BUS_SOURCE,
        delivery_stream=DELIVERY_STREAM,
    )
    text, environment = with_tool_workspaces(text, receivers)
    config.write_text(text)
    saved = dict(os.environ)
    os.environ.update(environment)  # read by `apply` for the `{env: VAR}` credentials
    stack = LocalStack(config, port=0, aws_port=0, delivery_workers=6)
    try:
        yield stack.start()
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


def with_tool_workspaces(text: str, receivers: Receivers) -> tuple[str, dict[str, str]]:
    """The workspace file with every tool's sources and destinations added at the end of their lists
    (the rest of the file, its line numbers included, as it was), and the environment their
    credentials need."""
    environment = dict(TOOL_ENVIRONMENT)
    sources: list[Any] = []
    destinations: list[Any] = []
    for name, path in tool_workspaces().items():
        part = yaml.safe_load(path.read_text().replace("{receiver}", receivers.tools[name].url))
        sources.extend(part.get("sources", []))
        destinations.extend(part.get("destinations", []))
        environment.update(part.get("environment", {}))
    for items, before in ((sources, "\ndestinations:\n"), (destinations, "\nfunctions:\n")):
        if items:
            listed = textwrap.indent(yaml.safe_dump(items, sort_keys=False), "  ")
            text = text.replace(before, "\n" + listed + before.lstrip("\n"), 1)
    return text, environment


@pytest.fixture
def stream(local_stack: LocalStack) -> StreamReader:
    """A reader positioned after everything earlier tests wrote."""
    assert local_stack.resources is not None
    reader = StreamReader(local_stack.client("kinesis"), local_stack.resources.events_stream)
    reader.read_new()
    return reader


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float = 30.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll until `condition()` is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = condition()
    return value


def ingest_handler(
    stack: LocalStack,
    stream: Callable[[IngestSettings], Any],
    now: Callable[[], datetime] = utc_now,
) -> Callable[..., Any]:
    """The ingest Lambda handler over a service built here, with the stream (and clock) given."""
    module = stack.functions["ingest"].module
    settings = IngestSettings.from_environment()
    workspace = CachedWorkspace(ConfigStore(settings.config_table_name), settings.config_cache_seconds)
    api = module.IngestApi(IngestService(workspace.get, stream(settings), settings.region, now=now))
    return module.lambda_handler_for(lambda: api)
