"""`type: slack`: chosen events as Slack messages, posted to an incoming webhook.

The webhook URL is the credential (whoever has it can post to the channel): stored in SSM, masked
in every sample, whole and by its path. `POST <webhook_url>` with `{"text": ...}` (Slack's
"Sending messages using incoming webhooks"); one message per request, as Slack takes them.

What posts, as Segment's Slack destination does it, except that track events must be listed:

- track: events named in `events` (exact names, `/regex/` patterns as Segment's "Regex Matching",
  or `*` for every event) or in `event_templates`. The message is the event's template
  (`event_templates`, exact name first, then the patterns in order), else `template` (Segment's
  default, "{{name}} did {{event}}."). Others are filtered (`unsupported.event_not_listed`).
- identify: only with `identify_traits` (Segment's "Whitelisted Traits"), and only when the call
  carries every one of them; the message is `identify_template` (default "Identified user
  {{name}}.\\n{{traits}}", `traits` being the listed traits).
- page, screen, group, alias: never (`unsupported.<call>_not_posted`), as with Segment.

Templates take `{{path}}` placeholders: `{{event}}`, `{{userId}}`, `{{properties.plan}}`,
`{{traits.email}}`, `{{context.page.url}}`… any path into the event, and `{{name}}`, the person as
Segment names them (name, first and last name, username, email, "User <userId>", "Anonymous user
<anonymousId>"); in identify templates a trait's bare name too (`{{email}}`). Values are escaped
for Slack (`&`, `<`, `>`), so event data cannot mention `@channel` or forge links; objects show as
JSON, a missing value as nothing. Templates are parsed once, when the settings are.

`channel`, `event_channels` (per event, like templates), `username` and `icon_emoji`/`icon_url` are
sent when set; Slack honours them for legacy (custom-integration) webhooks only; an app's webhook
always posts to its own channel as its app.

Limits: Slack posts about one message per second per webhook, with short bursts: one event per
hand-over here, and a Slack destination's `rate_limit_per_second` and `concurrency` default to 1.
Text over 40,000 characters is cut there (Slack truncates it anyway; `omitted.text_truncated`).

Answers: 200 `ok`. Errors come as plain text, counted by it (`discarded.410.channel_is_archived`):
`invalid_payload`, `user_not_found` (400), `action_prohibited` (403), `channel_not_found` (404),
`channel_is_archived` (410) per Slack's changelog, and `no_service` (a revoked webhook),
`invalid_token`, `team_disabled`…: every 4xx but 408, 423 and 429 is final. 429 is retried after
`Retry-After`; 5xx (`rollup_error`) and 408 retried.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlsplit

import orjson
from pydantic import Field, field_validator, model_validator

from switchyard.delivery.attempts import classify_status, parse_retry_after
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
    URL_PATTERN,
    Call,
    CallContext,
    DestinationSettings,
    DestinationType,
    EventType,
    HttpCall,
    Item,
    Limits,
    SecretText,
    Unsupported,
    Verdict,
    new_item,
    uniform,
)
from switchyard.destinations.mapping import as_object, as_text

MESSAGES = "messages"  # the only channel
DEFAULT_TEMPLATE = "{{name}} did {{event}}."
DEFAULT_IDENTIFY_TEMPLATE = "Identified user {{name}}.\n{{traits}}"
EVERY_EVENT = "*"
MAX_TEXT_CHARS = 40_000
TEXT_TRUNCATED = "text_truncated"
# Messages are posted one by one (a request each); the queue hands over this many at a time.
EVENTS_PER_SEND = 1
MAX_MESSAGE_BYTES = 1_000_000

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_$.\-]+)\s*\}\}")
# Slack's error answers: a short identifier in plain text.
_SLACK_ERROR = re.compile(r"[a-z_]{2,64}")
_EMOJI = r"^:[a-z0-9_+\-]+:$"
_CHANNEL = r"^[#@]?[^\s#@]{1,80}$"

UNKNOWN_TYPE = Unsupported("unknown_type")
EVENT_NOT_LISTED = Unsupported("event_not_listed")
NO_EVENT_NAME = Unsupported("no_event_name")
IDENTIFY_NOT_POSTED = Unsupported("identify_not_posted")
IDENTIFY_TRAITS_MISSING = Unsupported("identify_traits_missing")
NOT_POSTED = {
    kind: Unsupported(f"{kind}_not_posted")
    for kind in (EventType.PAGE, EventType.SCREEN, EventType.GROUP, EventType.ALIAS)
}


class Template(NamedTuple):
    """A message template, parsed: literal text and placeholders' paths, alternately."""

    literals: tuple[str, ...]  # one more than paths
    paths: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Refuses braces that are not a whole placeholder (`{{name} did`), so a typo shows at apply."""
        literals: list[str] = []
        paths: list[tuple[str, ...]] = []
        position = 0
        for found in _PLACEHOLDER.finditer(text):
            literals.append(text[position : found.start()])
            path = tuple(found.group(1).split("."))
            if "" in path:
                raise ValueError(f"{found.group(0)!r} is not a path")
            paths.append(path)
            position = found.end()
        literals.append(text[position:])
        if any("{{" in literal or "}}" in literal for literal in literals):
            raise ValueError(
                f"{text!r} has a placeholder that is not closed or not a path, like {{{{properties.plan}}}}"
            )
        return cls(tuple(literals), tuple(paths))


class _Names(NamedTuple):
    """Event names to match: exact ones, `/regex/` patterns (in order), and whether `*` is there."""

    exact: Mapping[str, Any]
    patterns: tuple[tuple[re.Pattern[str], Any], ...]
    every: Any

    @classmethod
    def of(cls, entries: Mapping[str, Any]) -> _Names:
        """Each entry's value is what `find` gives for the names its key matches."""
        exact: dict[str, Any] = {}
        patterns: list[tuple[re.Pattern[str], Any]] = []
        every = None
        for key, value in entries.items():
            if key == EVERY_EVENT:
                every = value
            elif len(key) > 2 and key.startswith("/") and key.endswith("/"):
                patterns.append((re.compile(key[1:-1]), value))
            else:
                exact[key] = value
        return cls(exact, tuple(patterns), every)

    def find(self, name: str) -> Any:
        found = self.exact.get(name)
        if found is not None:
            return found
        for pattern, value in self.patterns:
            if pattern.search(name):
                return value
        return self.every


class Parsed(NamedTuple):
    template: Template
    identify_template: Template
    templates: _Names  # event name -> Template
    listed: _Names  # event name -> True
    channels: _Names  # event name -> channel
    extras: Mapping[str, str]  # `username` and the icon, when set: the same in every message


def _event_patterns_compile(keys: Sequence[str]) -> None:
    for key in keys:
        if len(key) > 2 and key.startswith("/") and key.endswith("/"):
            try:
                re.compile(key[1:-1])
            except re.error as error:
                raise ValueError(f"{key!r} is not a regular expression: {error}") from error


class SlackSettings(DestinationSettings):
    """`type: slack`: what posts to an incoming webhook, and how it reads."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("webhook_url",)

    webhook_url: SecretText = Field(pattern=URL_PATTERN, description="The incoming webhook's URL (a secret)")
    events: tuple[str, ...] = Field(
        description='Track events that post: names, /regex/ patterns, or "*" for all ([]: only those with a template)'
    )
    event_templates: dict[str, str] = Field(
        default_factory=dict, description="Event name (or /regex/) -> message template; those events post too"
    )
    template: str = Field(default=DEFAULT_TEMPLATE, min_length=1, description="The message of other listed events")
    identify_traits: tuple[str, ...] = Field(
        default=(), description="Identify posts when it carries all these traits (none: identify never posts)"
    )
    identify_template: str = Field(default=DEFAULT_IDENTIFY_TEMPLATE, min_length=1, description="Identify's message")
    channel: str | None = Field(default=None, pattern=_CHANNEL, description="#channel or @user (legacy webhooks only)")
    event_channels: dict[str, str] = Field(
        default_factory=dict, description="Event name (or /regex/) -> channel (legacy webhooks only)"
    )
    username: str | None = Field(default=None, min_length=1, max_length=80, description="Author (legacy webhooks only)")
    icon_emoji: str | None = Field(default=None, pattern=_EMOJI, description=":emoji: icon (legacy webhooks only)")
    icon_url: str | None = Field(default=None, pattern=URL_PATTERN, description="Icon image URL (legacy webhooks only)")

    @field_validator("template", "identify_template")
    @classmethod
    def _parses(cls, text: str) -> str:
        Template.parse(text)
        return text

    @field_validator("event_templates")
    @classmethod
    def _templates_parse(cls, templates: dict[str, str]) -> dict[str, str]:
        _event_patterns_compile(list(templates))
        for text in templates.values():
            Template.parse(text)
        return templates

    @field_validator("events", "event_channels")
    @classmethod
    def _patterns_compile(cls, names: Any) -> Any:
        _event_patterns_compile(list(names))
        return names

    @model_validator(mode="after")
    def _something_posts(self) -> SlackSettings:
        if not (self.events or self.event_templates or self.identify_traits):
            raise ValueError("nothing would post: list `events`, give `event_templates`, or set `identify_traits`")
        if self.icon_emoji and self.icon_url:
            raise ValueError("set `icon_emoji` or `icon_url`, not both")
        return self

    @cached_property
    def parsed(self) -> Parsed:
        """The templates and event names, parsed once per settings (a cached property: read per event
        at the cost of an attribute, and no part of the settings' value or dump)."""
        return Parsed(
            Template.parse(self.template),
            Template.parse(self.identify_template),
            _Names.of({key: Template.parse(text) for key, text in self.event_templates.items()}),
            _Names.of(dict.fromkeys(self.events, True)),
            _Names.of(self.event_channels),
            MappingProxyType(self._extras()),
        )

    def _extras(self) -> dict[str, str]:
        extras = {}
        if self.username:
            extras["username"] = self.username
        if self.icon_emoji:
            extras["icon_emoji"] = self.icon_emoji
        elif self.icon_url:
            extras["icon_url"] = self.icon_url
        return extras


class Slack(DestinationType):
    name = "slack"
    title = "Slack"
    settings_model = SlackSettings
    calls = (EventType.TRACK, EventType.IDENTIFY)
    # Slack posts about a message a second per webhook: paced so, one hand-over at a time (in order).
    default_rate_limit_per_second = 1
    default_concurrency = 1

    def map(self, event: dict[str, Any], settings: SlackSettings) -> list[Item] | Unsupported:
        kind = event.get("type")
        if kind == EventType.TRACK:
            return _track(event, settings)
        if kind == EventType.IDENTIFY:
            return _identify(event, settings)
        return NOT_POSTED.get(kind, UNKNOWN_TYPE) if isinstance(kind, str) else UNKNOWN_TYPE  # type: ignore[call-overload]

    def limits(self, channel: str, settings: SlackSettings) -> Limits:
        return Limits(max_items=1, max_bytes=MAX_MESSAGE_BYTES)

    def events_per_send(self, settings: SlackSettings) -> int:
        return EVENTS_PER_SEND

    def call(self, channel: str, payloads: Sequence[bytes], settings: SlackSettings, context: CallContext) -> HttpCall:
        return HttpCall("POST", settings.webhook_url, payloads[0], {})

    def hidden_values(self, settings: SlackSettings) -> list[str]:
        """The webhook's path is its secret part: masked even where it shows without the host."""
        path = urlsplit(settings.webhook_url).path
        return [path] if len(path) > 1 else []

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not isinstance(answer, Answer) or 200 <= answer.status < 300:
            return uniform(answer, count, now)
        text = answer.body.strip().decode("utf-8", "replace")
        code = f"{answer.status}.{text}" if _SLACK_ERROR.fullmatch(text) else str(answer.status)
        retry_after = parse_retry_after(answer.headers.get("Retry-After"), now)
        return [Verdict(classify_status(answer.status), code, retry_after)] * count


SLACK = Slack()


# -- the calls ------------------------------------------------------------------------------------


def _track(event: dict[str, Any], settings: SlackSettings) -> list[Item] | Unsupported:
    name = event.get("event")
    if not isinstance(name, str) or not name:
        return NO_EVENT_NAME
    parsed = settings.parsed
    template = parsed.templates.find(name)
    if template is None:
        if parsed.listed.find(name) is None:
            return EVENT_NOT_LISTED
        template = parsed.template
    text = render(template, event)
    return _message(text, parsed.channels.find(name), settings)


def _identify(event: dict[str, Any], settings: SlackSettings) -> list[Item] | Unsupported:
    if not settings.identify_traits:
        return IDENTIFY_NOT_POSTED
    traits = as_object(event.get("traits"))
    listed: dict[str, Any] = {}
    for trait in settings.identify_traits:
        value = traits.get(trait)
        if value is None or value == "":
            return IDENTIFY_TRAITS_MISSING
        listed[trait] = value
    text = render(settings.parsed.identify_template, event, listed)
    return _message(text, settings.channel, settings)


# -- messages -------------------------------------------------------------------------------------


def _message(text: str, channel: str | None, settings: SlackSettings) -> list[Item]:
    omitted: tuple[str, ...] = ()
    if len(text) > MAX_TEXT_CHARS:
        text, omitted = text[:MAX_TEXT_CHARS], (TEXT_TRUNCATED,)
    message: dict[str, Any] = {"text": text}
    channel = channel or settings.channel
    if channel:
        message["channel"] = channel
    extras = settings.parsed.extras
    if extras:  # most webhooks (an app's) have none
        message.update(extras)
    return [new_item(Item, (MESSAGES, message, omitted))]


def render(template: Template, event: Mapping[str, Any], listed: dict[str, Any] | None = None) -> str:
    """The template with each placeholder's value, escaped for Slack. A placeholder reads `name`
    (computed once, when used), the event's fields, and for identify the listed traits (as
    `traits`, and by their bare names). Runs per message: a plain string, the usual value, is
    put as it is when it needs no escaping (`_shown` otherwise)."""
    literals, paths = template
    if not paths:
        return literals[0]
    parts = [literals[0]]
    get = event.get
    name = None
    for index, path in enumerate(paths, 1):
        key = path[0]
        if key == "name":
            if name is None:
                name = person_name(event)
            value = name
        elif listed is None:
            value = get(key)
        elif key == "traits":
            value = listed
        else:
            value = get(key)
            if value is None:
                value = listed.get(key)
        if len(path) > 1:
            for key in path[1:]:
                value = value.get(key) if isinstance(value, dict) else None
        if value.__class__ is str and "&" not in value and "<" not in value and ">" not in value:
            parts.append(value)
        else:
            parts.append(_shown(value))
        parts.append(literals[index])
    return "".join(parts)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if value.__class__ is str:
        text = value
    elif value is True or value is False:
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(value)
    else:
        text = orjson.dumps(value, default=str).decode()
    if "&" in text or "<" in text or ">" in text:  # Slack's three control characters
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def person_name(event: Mapping[str, Any]) -> str:
    """Who, as Segment's Slack destination names them: name, first and last name, username, email,
    else "User <userId>", else "Anonymous user <anonymousId>"."""
    traits = event.get("traits")
    context = event.get("context")
    context_traits = context.get("traits") if context.__class__ is dict else None
    email = None
    any_traits = traits or context_traits  # most events have neither: no loop at all
    for source in (traits, context_traits) if any_traits else ():
        if not source or source.__class__ is not dict:
            continue
        name = as_text(source.get("name"))
        if name:
            return name
        first, last = as_text(source.get("firstName")), as_text(source.get("lastName"))
        if first or last:
            return " ".join(part for part in (first, last) if part)
        username = as_text(source.get("username"))
        if username:
            return username
    properties = event.get("properties")
    if properties and properties.__class__ is dict:
        email = as_text(properties.get("email"))
    for source in (traits, context_traits) if any_traits else ():
        if not email and source and source.__class__ is dict:
            email = as_text(source.get("email"))
    if email:
        return email
    user_id = as_text(event.get("userId"))
    if user_id:
        return "User " + user_id
    return f"Anonymous user {as_text(event.get('anonymousId')) or ''}".rstrip()
