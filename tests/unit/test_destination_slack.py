"""`type: slack`: settings (the webhook URL is the credential; templates and patterns checked at
apply), which events post, templates and their placeholders, escaping, Slack's plain-text answers,
and delivery through the driver with the URL never shown."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.workspace import ConfigError, parse_workspace
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import CallContext, Unsupported, Verdict
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.slack import SLACK, SlackSettings, Template, person_name
from tests.support.destinations import ScriptedHttp, StaticCredentials, stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
WEBHOOK_PATH = "/services/T0TEST0001/B0TEST0001/q8Vx2LmN4pR7sT1uW3yZ5a"
WEBHOOK_URL = "https://hooks.slack.com" + WEBHOOK_PATH
NOW = 1_796_031_000.0


def settings(**overrides: Any) -> SlackSettings:
    return SlackSettings.model_validate({"webhook_url": WEBHOOK_URL, "events": ["Signed Up"], **overrides})


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "userId": "u1", "anonymousId": "a1", "messageId": "m1", **fields}


def posted(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    mapped = SLACK.map(event, settings(**overrides))
    assert isinstance(mapped, list) and len(mapped) == 1, mapped
    assert mapped[0].channel == "messages"
    return mapped[0].payload


def text(event: dict[str, Any], **overrides: Any) -> str:
    return posted(event, **overrides)["text"]


# -- settings -------------------------------------------------------------------------------------


def test_the_webhook_url_is_the_credential():
    configured = settings()
    assert SlackSettings.SECRET_FIELDS == ("webhook_url",)
    assert configured.credentials() == {"webhook_url": WEBHOOK_URL}
    assert WEBHOOK_PATH not in orjson.dumps(configured.public_settings()).decode()


def test_the_webhook_url_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_WEBHOOK", WEBHOOK_URL)
    assert settings(webhook_url={"env": "SLACK_WEBHOOK"}).webhook_url == WEBHOOK_URL


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"webhook_url": "hooks.slack.com/services/x"}, "webhook_url"),
        ({"events": "Signed Up"}, "events"),
        ({"events": ["/(unclosed/"]}, "not a regular expression"),
        ({"event_templates": {"/[a-/": "x"}}, "not a regular expression"),
        ({"template": "{{name} did {{event}}"}, "not closed or not a path"),
        ({"template": "{{properties..plan}}"}, "not a path"),
        ({"event_templates": {"E": "{{ oops"}}, "not closed"),
        ({"identify_template": ""}, "identify_template"),
        ({"channel": "#two words"}, "channel"),
        ({"icon_emoji": "tada"}, "icon_emoji"),
        ({"icon_emoji": ":tada:", "icon_url": "https://example.com/i.png"}, "not both"),
        ({"events": []}, "nothing would post"),
        ({"endpoint": "https://proxy.example.com"}, "endpoint"),
    ],
)
def test_settings_slack_cannot_use_are_refused(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        settings(**overrides)


def test_apply_names_the_line_of_a_broken_template_without_showing_the_url():
    workspace = f"""\
workspace: w
sources:
  - {{id: web, name: Web, write_key: wk_web_0000000}}
destinations:
  - id: slack
    type: slack
    sources: [web]
    settings:
      webhook_url: {WEBHOOK_URL}
      events: [Signed Up]
      template: "{{{{name}} signed up"
"""
    with pytest.raises(ConfigError, match=r"line 11, .*template") as caught:
        parse_workspace(workspace, "ws.yaml")
    assert WEBHOOK_PATH not in str(caught.value)


def test_a_slack_destination_posts_a_message_a_second_one_at_a_time_unless_told_otherwise():
    workspace = f"""\
workspace: w
sources:
  - {{id: web, name: Web, write_key: wk_web_0000000}}
destinations:
  - id: slack
    type: slack
    sources: [web]
    settings: {{webhook_url: "{WEBHOOK_URL}", events: ["*"]}}
  - id: slack-burst
    type: slack
    sources: [web]
    settings: {{webhook_url: "{WEBHOOK_URL}", events: ["*"]}}
    rate_limit_per_second: 3
"""
    paced, burst = parse_workspace(workspace, "ws.yaml").destinations
    assert (paced.rate_limit_per_second, paced.concurrency) == (1, 1)
    assert (burst.rate_limit_per_second, burst.concurrency) == (3, 1)


def test_an_identify_only_destination_needs_no_events():
    assert settings(events=[], identify_traits=["email"]).events == ()
    assert settings(events=[], event_templates={"Signed Up": "hi"}).event_templates == {"Signed Up": "hi"}


def test_slack_has_no_host_of_its_own_and_is_not_warned_about():
    assert SLACK.residency_warning(settings(), "eu-west-1") is None
    assert SLACK.calls == ("track", "identify")


# -- what posts -----------------------------------------------------------------------------------


def test_a_listed_event_posts_segments_default_message():
    assert posted(message("track", event="Signed Up")) == {"text": "User u1 did Signed Up."}


def test_unlisted_events_and_other_calls_are_filtered():
    assert SLACK.map(message("track", event="Signed In"), settings()) == Unsupported("event_not_listed")
    assert SLACK.map(message("track"), settings()) == Unsupported("no_event_name")
    for kind in ("page", "screen", "group", "alias"):
        assert SLACK.map(message(kind), settings()) == Unsupported(f"{kind}_not_posted")
    assert SLACK.map(message("batch"), settings()) == Unsupported("unknown_type")
    assert SLACK.map(message("identify", traits={"email": "a@b.co"}), settings()) == Unsupported("identify_not_posted")


def test_events_match_by_name_pattern_or_star():
    patterns = {"events": ["/^Order (Completed|Refunded)$/", "Signed Up"]}
    assert text(message("track", event="Order Refunded"), **patterns) == "User u1 did Order Refunded."
    assert SLACK.map(message("track", event="Order Viewed"), settings(**patterns)) == Unsupported("event_not_listed")
    assert text(message("track", event="Anything"), events=["*"]) == "User u1 did Anything."


def test_an_event_with_a_template_posts_it_exact_names_before_patterns():
    templates = {
        "Order Completed": "{{name}} ordered {{properties.total}} {{properties.currency}}",
        "/^Order/": "order event: {{event}}",
    }
    event = message("track", event="Order Completed", properties={"total": 30.5, "currency": "EUR"})
    assert text(event, event_templates=templates) == "User u1 ordered 30.5 EUR"
    assert text(message("track", event="Order Shipped"), event_templates=templates) == "order event: Order Shipped"


def test_a_custom_default_template_applies_to_listed_events():
    event = message("track", event="Signed Up", properties={"plan": "pro"}, userId="u9")
    assert text(event, template="{{ userId }} joined on {{properties.plan}}") == "u9 joined on pro"


# -- identify -------------------------------------------------------------------------------------


def test_identify_posts_only_with_every_listed_trait():
    configured = {"identify_traits": ["email", "plan"]}
    event = message("identify", traits={"email": "ada@example.com", "plan": "pro", "name": "Ada", "secret": "x"})
    assert text(event, **configured) == 'Identified user Ada.\n{"email":"ada@example.com","plan":"pro"}'
    missing = message("identify", traits={"email": "ada@example.com"})
    assert SLACK.map(missing, settings(**configured)) == Unsupported("identify_traits_missing")


def test_identify_templates_read_listed_traits_by_their_bare_names():
    event = message("identify", traits={"name": "John Doe", "email": "john.doe@example.com"})
    template = "The user {{name}} has an email of {{email}} ({{traits.email}}, {{userId}})"
    assert text(event, identify_traits=["email"], identify_template=template) == (
        "The user John Doe has an email of john.doe@example.com (john.doe@example.com, u1)"
    )


# -- placeholders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "name"),
    [
        (message("track", traits=None, context={"traits": {"name": "Ada L"}}), "Ada L"),
        (message("track", context={"traits": {"firstName": "Ada", "lastName": "Lovelace"}}), "Ada Lovelace"),
        (message("track", context={"traits": {"firstName": "Ada"}}), "Ada"),
        (message("track", context={"traits": {"username": "ada"}}), "ada"),
        (
            message("track", properties={"email": "p@example.com"}, context={"traits": {"email": "c@e.com"}}),
            "p@example.com",
        ),
        (message("track", context={"traits": {"email": "c@example.com"}}), "c@example.com"),
        (message("track"), "User u1"),
        (message("track", userId=None), "Anonymous user a1"),
        (message("identify", traits={"name": "Grace"}), "Grace"),
    ],
)
def test_name_is_segments_name_for_the_person(event: dict[str, Any], name: str):
    assert person_name(event) == name


def test_values_are_escaped_for_slack_and_objects_shown_as_json():
    event = message(
        "track",
        event="Signed Up",
        properties={"note": "<!channel> & <https://evil.example|click>", "tags": ["a", "b"], "paid": True, "n": None},
    )
    template = "{{properties.note}} {{properties.tags}} {{properties.paid}} [{{properties.n}}] [{{properties.no.such}}]"
    assert text(event, template=template) == (
        '&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; ["a","b"] true [] []'
    )


def test_the_templates_own_markup_is_kept():
    event = message("track", event="Signed Up", properties={"url": "https://example.com/a?b=1&c=2"})
    assert text(event, template="<{{properties.url}}|open> *now*") == "<https://example.com/a?b=1&amp;c=2|open> *now*"


def test_a_template_is_parsed_into_literals_and_paths():
    assert Template.parse("a {{ b.c }} d {{e}}") == Template(("a ", " d ", ""), (("b", "c"), ("e",)))
    assert Template.parse("no placeholders") == Template(("no placeholders",), ())


def test_long_messages_are_cut_and_say_so():
    mapped = SLACK.map(
        message("track", event="Signed Up", properties={"blob": "x" * 50_000}), settings(template="{{properties.blob}}")
    )
    assert isinstance(mapped, list)
    assert len(mapped[0].payload["text"]) == 40_000 and mapped[0].omitted == ("text_truncated",)


def test_channel_username_and_icon_are_sent_when_set():
    configured = {
        "channel": "#growth",
        "event_channels": {"/^Order/": "@ada"},
        "username": "Switchyard",
        "icon_emoji": ":tada:",
    }
    assert posted(message("track", event="Signed Up"), **configured) == {
        "text": "User u1 did Signed Up.",
        "channel": "#growth",
        "username": "Switchyard",
        "icon_emoji": ":tada:",
    }
    order = posted(message("track", event="Order Completed"), events=["*"], **configured)
    assert order["channel"] == "@ada"
    assert posted(message("track", event="Signed Up"), icon_url="https://example.com/i.png")["icon_url"] == (
        "https://example.com/i.png"
    )


def test_mapping_is_pure():
    event = message("identify", traits={"email": "a@b.co", "name": "A"})
    before = orjson.dumps(event)
    assert SLACK.map(event, settings(identify_traits=["email"])) == SLACK.map(
        event, settings(identify_traits=["email"])
    )
    assert orjson.dumps(event) == before


# -- requests and answers -------------------------------------------------------------------------


def test_each_message_is_its_own_request_to_the_webhook():
    configured = settings()
    assert (SLACK.limits("messages", configured).max_items, SLACK.events_per_send(configured)) == (1, 1)
    call = SLACK.call("messages", [b'{"text":"hi"}'], configured, CallContext("us-east-1", NOW))
    assert (call.method, call.url, call.body, call.headers) == ("POST", WEBHOOK_URL, b'{"text":"hi"}', {})
    assert SLACK.hidden_values(configured) == [WEBHOOK_PATH]


@pytest.mark.parametrize(
    ("status", "body", "headers", "verdict"),
    [
        (200, b"ok", {}, Verdict(DELIVERED, "200")),
        (400, b"invalid_payload", {}, Verdict(FINAL, "400.invalid_payload")),
        (403, b"action_prohibited", {}, Verdict(FINAL, "403.action_prohibited")),
        (404, b"no_service", {}, Verdict(FINAL, "404.no_service")),
        (404, b"channel_not_found\n", {}, Verdict(FINAL, "404.channel_not_found")),
        (410, b"channel_is_archived", {}, Verdict(FINAL, "410.channel_is_archived")),
        (429, b"rate_limited", {"Retry-After": "3"}, Verdict(RETRY, "429.rate_limited", 3.0)),
        (500, b"rollup_error", {}, Verdict(RETRY, "500.rollup_error")),
        (502, b"<html>Bad Gateway</html>", {}, Verdict(RETRY, "502")),
    ],
)
def test_slacks_plain_text_answers_are_read(status: int, body: bytes, headers: dict[str, str], verdict: Verdict):
    call = SLACK.call("messages", [b"{}"], settings(), CallContext("us-east-1", NOW))
    assert SLACK.interpret(call, Answer(status, headers, body, True), 1, NOW) == [verdict]


# -- through the driver ---------------------------------------------------------------------------


def send(http: ScriptedHttp, events: list[dict[str, Any]], **public: Any) -> list[Any]:
    adapter = ToolAdapter(
        SLACK,
        "eu-west-1",
        http=http,  # type: ignore[arg-type]
        credentials=StaticCredentials({"webhook_url": WEBHOOK_URL}),
        clock=lambda: NOW,
    )
    destination = stored_destination("slack", "slack", settings(**public), name="Slack")
    assert "webhook_url" not in destination.settings
    return adapter.send(destination, events, deadline=1e12)


def ok(url: str) -> Answer:
    return Answer(200, {}, b"ok", True)


def test_messages_go_one_per_request_and_no_sample_shows_the_url():
    http = ScriptedHttp(Answer(410, {}, b"channel_is_archived", True), default=ok)
    events = [message("track", event="Signed Up"), message("track", event="Other"), message("track", event="Signed Up")]
    attempts = send(http, events)
    assert [(a.status, a.code) for a in attempts] == [
        (FINAL, "410.channel_is_archived"),
        (UNSUPPORTED, "unsupported.event_not_listed"),
        (DELIVERED, "200"),
    ]
    assert [(url, orjson.loads(body)) for url, body, _ in http.sent] == [
        (WEBHOOK_URL, {"text": "User u1 did Signed Up."}),
        (WEBHOOK_URL, {"text": "User u1 did Signed Up."}),
    ]
    for attempt in attempts:
        shown = orjson.dumps([attempt.request, attempt.response]).decode()
        assert WEBHOOK_PATH not in shown and "q8Vx2LmN4pR7sT1uW3yZ5a" not in shown
    assert attempts[0].request["url"] == "<redacted>"


def test_a_throttled_message_waits_as_slack_asks():
    http = ScriptedHttp(Answer(429, {"Retry-After": "30"}, b"rate_limited", True))
    [attempt] = send(http, [message("track", event="Signed Up")])
    assert (attempt.status, attempt.code, attempt.retry_after) == (RETRY, "429.rate_limited", 30.0)
