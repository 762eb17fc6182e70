"""User deletion at the destinations: each tool's deletion request (method, host, path, auth, body,
chunks of its maximum), the verdicts on its answers, credentials unavailable or missing, masking;
Klaviyo's look-up then deletion; the stand-ins' answers; destination functions' `on_delete`."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from pydantic import ValidationError

from switchyard.config.compiled import Destination, FunctionConfig
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.amplitude import AMPLITUDE
from switchyard.destinations.base import DeletionAttempt, DestinationType
from switchyard.destinations.braze import BRAZE
from switchyard.destinations.catalog import TOOLS
from switchyard.destinations.customerio import CUSTOMERIO
from switchyard.destinations.driver import MASK, ToolAdapter
from switchyard.destinations.function import FunctionDestinationAdapter
from switchyard.destinations.hubspot import HUBSPOT
from switchyard.destinations.klaviyo import KLAVIYO
from switchyard.destinations.mixpanel import MIXPANEL
from switchyard.destinations.posthog import POSTHOG, PosthogSettings
from switchyard.devstack.receiver import Received
from switchyard.devstack.standins import ToolStandIns
from switchyard.functions.runtime import ERROR, OK, RETRY, UNSUPPORTED, EventResult, FunctionRunner, load_module
from tests.support.destinations import DEFAULT_RETRY, StaticCredentials, stored_destination

DELIVERED, FINAL = AttemptStatus.DELIVERED, AttemptStatus.FINAL
RETRY_LATER = AttemptStatus.RETRY
NOW = 1_796_031_000.0
DEADLINE = 100.0  # on the adapters' monotonic clock, which stays at 0

AMPLITUDE_SETTINGS = {"api_key": "amp-api-key-0001", "secret_key": "amp-secret-key-0002"}
BRAZE_SETTINGS = {"api_key": "braze-rest-key-0003", "instance": "fra-01"}
CUSTOMERIO_SETTINGS = {"site_id": "site123", "api_key": "cio-api-key-0004"}
MIXPANEL_SETTINGS = {"project_token": "mp-project-token-0005", "gdpr_api_token": "mp-gdpr-oauth-0006"}
POSTHOG_SETTINGS = {
    "api_key": "phc_project_key_0007",
    "personal_api_key": "phx_personal_key_0008",
    "project_id": "4242",
}
KLAVIYO_SETTINGS = {"private_api_key": "pk_klaviyo_private_0009"}
HUBSPOT_SETTINGS = {"access_token": "pat-eu1-hubspot-0010"}
SETTINGS: dict[str, dict[str, Any]] = {
    "amplitude": AMPLITUDE_SETTINGS,
    "braze": BRAZE_SETTINGS,
    "customerio": CUSTOMERIO_SETTINGS,
    "mixpanel": MIXPANEL_SETTINGS,
    "posthog": POSTHOG_SETTINGS,
    "klaviyo": KLAVIYO_SETTINGS,
    "hubspot": HUBSPOT_SETTINGS,
}
KINDS: dict[str, DestinationType] = {
    kind.name: kind for kind in (AMPLITUDE, BRAZE, CUSTOMERIO, MIXPANEL, POSTHOG, KLAVIYO, HUBSPOT)
}
# A userId every tool can delete (HubSpot deletes contacts by email).
USER = "ada@example.com"
KLAVIYO_PROFILE = "01KLAVIYOPROFILE"


@dataclass
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return orjson.loads(self.body)


def success(method: str, url: str) -> Answer:
    """Each tool's answer to a deletion it took (Klaviyo's look-up finds the profile)."""
    path = urlsplit(url).path
    if path.endswith("/api/profiles"):
        return Answer(200, {}, orjson.dumps({"data": [{"type": "profile", "id": KLAVIYO_PROFILE}]}), True)
    if "data-privacy-deletion-jobs" in path or "bulk_delete" in path:
        return Answer(202, {}, b"", True)
    if path.endswith("/gdpr-delete"):
        return Answer(204, {}, b"", True)
    if path.endswith("/users/delete"):
        return Answer(201, {}, b'{"deleted":1,"message":"success"}', True)
    return Answer(200, {}, b"{}", True)


class RecordingHttp:
    """Answers each request with the next scripted answer (or raises it), then with `default`."""

    def __init__(self, *answers: Answer | Exception, default: Callable[[str, str], Answer] = success) -> None:
        self.answers = list(answers)
        self.default = default
        self.sent: list[Request] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        self.sent.append(Request(method, url, body, dict(headers)))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self.default(method, url)


class FailingCredentials:
    def get(self, destination_id: str) -> dict[str, Any]:
        raise TimeoutError("SSM did not answer")


def deleting(
    kind: DestinationType,
    raw: Mapping[str, Any] | None = None,
    *answers: Answer | Exception,
    aws_region: str = "us-east-1",
    http: Any = None,
) -> tuple[ToolAdapter, Destination, Any]:
    settings = kind.settings_model.model_validate(dict(raw if raw is not None else SETTINGS[kind.name]))
    http = http if http is not None else RecordingHttp(*answers)
    adapter = ToolAdapter(
        kind,
        aws_region,
        http=http,
        credentials=StaticCredentials(settings.credentials()),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )
    return adapter, stored_destination(f"{kind.name}-1", kind.name, settings), http


def delete(kind: DestinationType, user_ids: list[str], *answers: Answer | Exception, **options: Any):
    adapter, destination, http = deleting(kind, None, *answers, **options)
    return adapter.delete_users(destination, user_ids, DEADLINE), http.sent


def bare_destination(destination_id: str, kind: str) -> Destination:
    return Destination(destination_id, destination_id, kind, True, ("web",), {}, 100, 1, DEFAULT_RETRY)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def secrets_of(raw: Mapping[str, Any], kind: DestinationType) -> list[str]:
    return [str(raw[name]) for name in kind.settings_model.SECRET_FIELDS if name in raw]


# -- which tools delete, and how many userIds a request names ---------------------------------------


def test_the_tools_with_a_deletion_api_and_their_maximum_per_request():
    assert {name: kind.max_deletions_per_call for name, kind in TOOLS.items() if kind.max_deletions_per_call} == {
        "amplitude": 100,
        "braze": 50,
        "customerio": 100,
        "mixpanel": 1999,
        "posthog": 1000,
        "klaviyo": 1,
        "hubspot": 1,
    }


@pytest.mark.parametrize("name", sorted(set(TOOLS) - set(KINDS)))
def test_a_tool_without_a_deletion_api_says_so_and_sends_nothing(name: str):
    kind = TOOLS[name]
    adapter = ToolAdapter(kind, "us-east-1", http=RecordingHttp())  # type: ignore[arg-type]
    assert adapter.supports_deletion is False
    [attempt] = adapter.delete_users(bare_destination("d", name), ["u1", "u2"], DEADLINE)
    assert (attempt.user_ids, attempt.status, attempt.code) == (("u1", "u2"), FINAL, "deletion_unsupported")


def test_no_user_ids_no_request():
    attempts, sent = delete(BRAZE, [])
    assert (attempts, sent) == ([], [])


# -- the requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "aws_region", "overrides", "url"),
    [
        ("amplitude", "us-east-1", {}, "https://amplitude.com/api/2/deletions/users"),
        ("amplitude", "eu-west-1", {}, "https://analytics.eu.amplitude.com/api/2/deletions/users"),
        ("amplitude", "us-east-1", {"region": "eu"}, "https://analytics.eu.amplitude.com/api/2/deletions/users"),
        ("amplitude", "eu-west-1", {"region": "us"}, "https://amplitude.com/api/2/deletions/users"),
        ("braze", "us-east-1", {}, "https://rest.fra-01.braze.eu/users/delete"),
        ("braze", "us-east-1", {"instance": "iad-03"}, "https://rest.iad-03.braze.com/users/delete"),
        ("customerio", "us-east-1", {}, "https://track.customer.io/api/v2/batch"),
        ("customerio", "eu-central-1", {}, "https://track-eu.customer.io/api/v2/batch"),
        (
            "mixpanel",
            "us-east-1",
            {},
            "https://mixpanel.com/api/app/data-deletions/v3.0/?token=mp-project-token-0005",
        ),
        (
            "mixpanel",
            "us-east-1",
            {"region": "eu"},
            "https://eu.mixpanel.com/api/app/data-deletions/v3.0/?token=mp-project-token-0005",
        ),
        ("posthog", "us-east-1", {}, "https://us.posthog.com/api/projects/4242/persons/bulk_delete/"),
        ("posthog", "eu-west-1", {}, "https://eu.posthog.com/api/projects/4242/persons/bulk_delete/"),
        ("hubspot", "eu-west-1", {}, "https://api.hubapi.com/crm/v3/objects/contacts/gdpr-delete"),
    ],
)
def test_each_tool_is_asked_on_its_deletion_host(name: str, aws_region: str, overrides: dict[str, Any], url: str):
    kind = KINDS[name]
    adapter, destination, http = deleting(kind, {**SETTINGS[name], **overrides}, aws_region=aws_region)
    [attempt] = adapter.delete_users(destination, [USER], DEADLINE)
    assert attempt.status is DELIVERED, attempt
    assert [(request.method, request.url) for request in http.sent] == [("POST", url)]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_endpoint_replaces_the_deletion_host_so_tests_and_proxies_get_the_requests(name: str):
    adapter, destination, http = deleting(KINDS[name], {**SETTINGS[name], "endpoint": "http://127.0.0.1:9000/tool/"})
    [attempt] = adapter.delete_users(destination, [USER], DEADLINE)
    assert attempt.status is DELIVERED, attempt
    assert all(request.url.startswith("http://127.0.0.1:9000/tool/") for request in http.sent), http.sent
    assert "//" not in urlsplit(http.sent[0].url).path


def test_amplitude_deletes_by_user_ids_with_basic_api_key_and_secret_key():
    [attempt], [request] = delete(AMPLITUDE, ["u1", "u2"])
    assert request.headers["Authorization"] == basic("amp-api-key-0001", "amp-secret-key-0002")
    assert request.headers["Content-Type"] == "application/json"
    # Unknown ids are ignored rather than failing the request; Amplitude wants the flag as text.
    assert request.json() == {"user_ids": ["u1", "u2"], "requester": "switchyard", "ignore_invalid_id": "True"}
    assert (attempt.user_ids, attempt.status, attempt.code) == (("u1", "u2"), DELIVERED, "200")


def test_braze_deletes_by_external_ids_with_the_rest_key():
    [attempt], [request] = delete(BRAZE, ["u1", "u2"])
    assert request.headers["Authorization"] == "Bearer braze-rest-key-0003"
    assert request.json() == {"external_ids": ["u1", "u2"]}
    assert (attempt.status, attempt.code) == (DELIVERED, "201")


def test_customerio_deletes_each_person_as_a_batch_entity_identified_as_its_events_are():
    [attempt], [request] = delete(CUSTOMERIO, ["u1", "ada@example.com", "cio_03000001"])
    assert request.headers["Authorization"] == basic("site123", "cio-api-key-0004")
    assert request.json() == {
        "batch": [
            {"type": "person", "action": "delete", "identifiers": {"id": "u1"}},
            {"type": "person", "action": "delete", "identifiers": {"email": "ada@example.com"}},
            {"type": "person", "action": "delete", "identifiers": {"cio_id": "03000001"}},
        ]
    }
    assert (attempt.status, attempt.code) == (DELIVERED, "200")


def test_mixpanel_creates_a_gdpr_deletion_task_with_the_oauth_token():
    [attempt], [request] = delete(MIXPANEL, ["u1", "u2"])
    assert request.headers["Authorization"] == "Bearer mp-gdpr-oauth-0006"
    assert request.json() == {"distinct_ids": ["u1", "u2"], "compliance_type": "GDPR"}
    assert attempt.status is DELIVERED
    assert attempt.request["url"] == f"https://mixpanel.com/api/app/data-deletions/v3.0/?token={MASK}"


def test_posthog_deletes_the_persons_events_and_recordings_with_a_personal_api_key():
    [attempt], [request] = delete(POSTHOG, ["u1", "u2"])
    assert request.headers["Authorization"] == "Bearer phx_personal_key_0008"
    assert request.json() == {"distinct_ids": ["u1", "u2"], "delete_events": True, "delete_recordings": True}
    assert (attempt.status, attempt.code) == (DELIVERED, "202")


def test_hubspot_gdpr_deletes_the_contact_by_its_email():
    [attempt], [request] = delete(HUBSPOT, ["Ada@Example.com"])
    assert request.headers["Authorization"] == "Bearer pat-eu1-hubspot-0010"
    assert request.json() == {"idProperty": "email", "objectId": "ada@example.com"}
    assert (attempt.user_ids, attempt.status, attempt.code) == (("Ada@Example.com",), DELIVERED, "204")


def test_hubspot_cannot_delete_a_user_id_that_is_not_an_email():
    [attempt], sent = delete(HUBSPOT, ["u1"])
    assert sent == []
    assert (attempt.status, attempt.code) == (FINAL, "deletion_not_configured")
    assert "email" in attempt.response["error"]


# -- Klaviyo: the profile by its external_id, then its deletion job ----------------------------------


def test_klaviyo_looks_the_profile_up_by_external_id_then_requests_its_deletion():
    [attempt], [lookup, deletion] = delete(KLAVIYO, ['u"1'])
    assert lookup.method == "GET"
    url = urlsplit(lookup.url)
    assert (url.netloc, url.path) == ("a.klaviyo.com", "/api/profiles")
    assert parse_qs(url.query)["filter"] == ['equals(external_id,"u\\"1")']
    assert lookup.headers["Authorization"] == "Klaviyo-API-Key pk_klaviyo_private_0009"
    assert lookup.headers["revision"] == KLAVIYO.settings_model.model_fields["revision"].default
    assert (deletion.method, deletion.url) == ("POST", "https://a.klaviyo.com/api/data-privacy-deletion-jobs")
    assert deletion.headers["Authorization"] == "Klaviyo-API-Key pk_klaviyo_private_0009"
    assert deletion.json() == {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": {"type": "profile", "id": KLAVIYO_PROFILE}}},
        }
    }
    assert (attempt.user_ids, attempt.status, attempt.code) == (('u"1',), DELIVERED, "202")
    assert attempt.request["url"] == "https://a.klaviyo.com/api/data-privacy-deletion-jobs", "the last step's"


def test_klaviyo_without_a_profile_of_that_external_id_has_nothing_to_delete():
    [attempt], sent = delete(KLAVIYO, ["u1"], Answer(200, {}, b'{"data":[],"links":{}}', True))
    assert len(sent) == 1
    assert (attempt.status, attempt.code) == (DELIVERED, "200.no_profile")


def test_klaviyo_deletes_one_user_per_request_pair():
    attempts, sent = delete(KLAVIYO, ["u1", "u2"])
    assert [attempt.user_ids for attempt in attempts] == [("u1",), ("u2",)]
    assert [request.method for request in sent] == ["GET", "POST", "GET", "POST"]


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (Answer(401, {}, b'{"errors":[{"code":"not_authenticated"}]}', True), FINAL, "401.not_authenticated"),
        (Answer(429, {"Retry-After": "3"}, b"", True), RETRY_LATER, "429"),
    ],
)
def test_klaviyo_a_refused_look_up_deletes_nothing(answer: Answer, status: AttemptStatus, code: str):
    [attempt], sent = delete(KLAVIYO, ["u1"], answer)
    assert len(sent) == 1
    assert (attempt.status, attempt.code) == (status, code)


def test_klaviyo_a_throttled_deletion_job_is_retried_whole():
    throttled = Answer(429, {"Retry-After": "20"}, b"", True)
    [attempt], sent = delete(KLAVIYO, ["u1"], success("GET", "https://a.klaviyo.com/api/profiles"), throttled)
    assert len(sent) == 2
    assert (attempt.status, attempt.code, attempt.retry_after) == (RETRY_LATER, "429", 20.0)


# -- chunks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["amplitude", "braze", "customerio", "mixpanel", "posthog"])
def test_user_ids_are_cut_into_requests_of_the_tools_maximum(name: str):
    kind = KINDS[name]
    size = kind.max_deletions_per_call
    user_ids = [f"user-{n}" for n in range(size + 1)]
    attempts, sent = delete(kind, user_ids)
    assert [len(attempt.user_ids) for attempt in attempts] == [size, 1]
    assert [user for attempt in attempts for user in attempt.user_ids] == user_ids
    assert len(sent) == 2
    assert all(attempt.status is DELIVERED for attempt in attempts)


def test_hubspot_sends_one_request_per_user():
    attempts, sent = delete(HUBSPOT, ["a@example.com", "b@example.com", "c@example.com"])
    assert [attempt.user_ids for attempt in attempts] == [("a@example.com",), ("b@example.com",), ("c@example.com",)]
    assert [request.json()["objectId"] for request in sent] == ["a@example.com", "b@example.com", "c@example.com"]


def test_each_chunk_has_its_own_verdict():
    attempts, _ = delete(BRAZE, [f"u{n}" for n in range(60)], Answer(503, {}, b"", True))
    assert [(len(attempt.user_ids), attempt.status) for attempt in attempts] == [(50, RETRY_LATER), (10, DELIVERED)]


# -- verdicts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_throttled_deletion_is_retried_after_retry_after(name: str):
    [attempt], _ = delete(KINDS[name], [USER], Answer(429, {"Retry-After": "7"}, b"{}", True))
    assert (attempt.status, attempt.code) == (RETRY_LATER, "429")
    assert attempt.retry_after is not None and attempt.retry_after >= 7


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_server_error_is_retried(name: str):
    [attempt], _ = delete(KINDS[name], [USER], Answer(503, {}, b"unavailable", True))
    assert (attempt.status, attempt.code) == (RETRY_LATER, "503")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_refusal_is_final(name: str):
    [attempt], _ = delete(KINDS[name], [USER], Answer(400, {}, b'{"message":"bad request"}', True))
    assert attempt.status is FINAL
    assert attempt.code.startswith("400")
    assert attempt.response == {"status": 400, "body": '{"message":"bad request"}'}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_transport_error_is_retried(name: str):
    [attempt], sent = delete(KINDS[name], [USER], ConnectionRefusedError("refused"))
    assert (attempt.status, attempt.code) == (RETRY_LATER, "ECONNREFUSED")
    assert len(sent) == 1
    assert "refused" in attempt.response["error"]


def test_braze_waits_for_its_rate_limit_window_to_reset():
    reset = Answer(429, {"X-RateLimit-Reset": str(int(NOW) + 42)}, b"", True)
    [attempt], _ = delete(BRAZE, ["u1"], reset)
    assert (attempt.status, attempt.retry_after) == (RETRY_LATER, 42.0)


def test_mixpanel_throttling_waits_at_least_its_advised_pause():
    [attempt], _ = delete(MIXPANEL, ["u1"], Answer(429, {}, b"", True))
    assert (attempt.status, attempt.retry_after) == (RETRY_LATER, 2.0)


def test_hubspot_daily_limit_waits_for_midnight_in_the_account_time_zone():
    daily = Answer(429, {}, b'{"policyName":"DAILY"}', True)
    [attempt], _ = delete(HUBSPOT, [USER], daily)
    assert (attempt.status, attempt.code) == (RETRY_LATER, "429.daily")


def test_customerio_refused_entities_make_the_request_final():
    refused = Answer(207, {}, b'{"errors":[{"batch_index":1,"reason":"invalid","message":"bad id"}]}', True)
    [attempt], _ = delete(CUSTOMERIO, ["u1", ""], refused)
    assert (attempt.status, attempt.code) == (FINAL, "207.invalid_entity")
    assert "batch_index" in attempt.response["body"]


def test_no_request_is_started_after_the_deadline():
    adapter, destination, http = deleting(BRAZE)
    [attempt] = adapter.delete_users(destination, ["u1"], deadline=0.2)
    assert (attempt.status, attempt.code, http.sent) == (RETRY_LATER, "out_of_time", [])


# -- credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KINDS))
def test_unreadable_credentials_retry_every_chunk(name: str):
    kind = KINDS[name]
    settings = kind.settings_model.model_validate(SETTINGS[name])
    http = RecordingHttp()
    adapter = ToolAdapter(kind, "us-east-1", http=http, credentials=FailingCredentials(), clock=lambda: NOW)  # type: ignore[arg-type]
    destination = stored_destination("d", name, settings)
    size = kind.max_deletions_per_call
    attempts = adapter.delete_users(destination, [f"u{n}@example.com" for n in range(size + 1)], DEADLINE)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [(RETRY_LATER, "credentials_unavailable")] * 2
    assert [len(attempt.user_ids) for attempt in attempts] == [size, 1]
    assert http.sent == []


def test_credentials_not_stored_yet_retry_too():
    settings = AMPLITUDE.settings_model.model_validate(AMPLITUDE_SETTINGS)
    adapter = ToolAdapter(AMPLITUDE, "us-east-1", http=RecordingHttp(), credentials=StaticCredentials({"api_key": "x"}))  # type: ignore[arg-type]
    [attempt] = adapter.delete_users(stored_destination("d", "amplitude", settings), ["u1"], DEADLINE)
    assert (attempt.status, attempt.code) == (RETRY_LATER, "credentials_unavailable")


@pytest.mark.parametrize(
    ("name", "without", "setting"),
    [
        ("amplitude", ("secret_key",), "secret_key"),
        ("mixpanel", ("gdpr_api_token",), "gdpr_api_token"),
        ("posthog", ("personal_api_key", "project_id"), "personal_api_key"),
        ("posthog", ("personal_api_key",), "personal_api_key"),
    ],
)
def test_without_the_optional_deletion_credential_nothing_is_sent_and_the_answer_names_it(
    name: str, without: tuple[str, ...], setting: str
):
    raw = {key: value for key, value in SETTINGS[name].items() if key not in without}
    adapter, destination, http = deleting(KINDS[name], raw)
    attempts = adapter.delete_users(destination, ["u1", "u2"], DEADLINE)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [(FINAL, "deletion_not_configured")]
    assert f"`{setting}`" in attempts[0].response["error"]
    assert http.sent == []


def test_the_optional_deletion_credentials_are_credentials():
    for name, field in (("amplitude", "secret_key"), ("mixpanel", "gdpr_api_token"), ("posthog", "personal_api_key")):
        settings = KINDS[name].settings_model.model_validate(SETTINGS[name])
        assert field in KINDS[name].settings_model.SECRET_FIELDS
        assert field in settings.credentials()
        assert field not in settings.public_settings()


def test_a_posthog_personal_api_key_needs_the_project_id():
    with pytest.raises(ValidationError, match="project_id"):
        PosthogSettings.model_validate({"api_key": "phc_project_key_0007", "personal_api_key": "phx_personal_key_0008"})


# -- masking --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KINDS))
def test_no_credential_shows_in_the_request_or_the_answer_kept(name: str):
    kind = KINDS[name]
    secrets = secrets_of(SETTINGS[name], kind)
    echo = Answer(400, {}, orjson.dumps({"echo": secrets}), True)
    [attempt], sent = delete(kind, [USER], echo)
    kept = orjson.dumps([attempt.request, attempt.response]).decode()
    assert sent[0].headers["Authorization"] != MASK
    assert attempt.request["headers"]["Authorization"] == MASK
    for secret in secrets:
        assert secret not in kept, (name, secret)
    assert MASK in attempt.response["body"]


# -- the stand-ins of `make run` -------------------------------------------------------------------


class StandInHttp:
    """Requests answered by the demo's tool stand-ins, in-process."""

    def __init__(self) -> None:
        self.standins = ToolStandIns()
        self.sent: list[Request] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        self.sent.append(Request(method, url, body, dict(headers)))
        parts = urlsplit(url)
        received = Received(NOW, parts.path, dict(headers), body, query=parts.query, method=method)
        status, answer_headers, answer_body = self.standins(received)
        return Answer(status, answer_headers, answer_body if isinstance(answer_body, bytes) else b"", True)


@pytest.mark.parametrize(("name", "code"), [("braze", "201"), ("customerio", "200"), ("hubspot", "204")])
def test_the_stand_ins_take_deletions_as_the_tools_do(name: str, code: str):
    http = StandInHttp()
    raw = {**SETTINGS[name], "endpoint": f"http://127.0.0.1:9000/{name}"}
    adapter, destination, _ = deleting(KINDS[name], raw, http=http)
    [attempt] = adapter.delete_users(destination, [USER], DEADLINE)
    assert (attempt.status, attempt.code) == (DELIVERED, code)


def test_the_klaviyo_stand_in_finds_a_profile_identify_made_and_deletes_it():
    http = StandInHttp()
    adapter, destination, _ = deleting(
        KLAVIYO, {**KLAVIYO_SETTINGS, "endpoint": "http://127.0.0.1:9000/klaviyo"}, http=http
    )
    identify = {"type": "identify", "userId": "u1", "messageId": "m1", "traits": {"email": USER}}
    [sent] = adapter.send(destination, [identify], DEADLINE)
    assert sent.status is DELIVERED
    [attempt] = adapter.delete_users(destination, ["u1"], DEADLINE)
    assert (attempt.status, attempt.code) == (DELIVERED, "202")
    [again] = adapter.delete_users(destination, ["u1"], DEADLINE)
    assert (again.status, again.code) == (DELIVERED, "200.no_profile"), "deleted: not found again"


# -- destination functions ------------------------------------------------------------------------

FUNCTION = FunctionConfig("forget", "destination", None, "functions/forget.py", {"mark": "x"}, (), 5)


class Workspace:
    def __init__(self, *functions: FunctionConfig) -> None:
        self._functions = {function.id: function for function in functions}

    def function(self, function_id: str) -> FunctionConfig | None:
        return self._functions.get(function_id)


class ScriptedFunctions:
    """What the function's Lambda answers, per userId; keeps the events it was given."""

    def __init__(self, results: Mapping[str, EventResult] | None = None) -> None:
        self.results = results or {}
        self.calls: list[list[dict[str, Any]]] = []

    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]:
        self.calls.append(events)
        return [self.results.get(event["userId"], EventResult(OK)) for event in events]


class InProcessFunctions:
    """The function run here, as `switchyard dev` runs it."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner

    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]:
        return self.runner.run_events(events, function.settings)


def function_destination(function: str = "forget") -> Destination:
    return dataclasses.replace(bare_destination("fn", "function"), function=function)


def function_adapter(functions: Any, *, monotonic: Callable[[], float] = lambda: 0.0) -> FunctionDestinationAdapter:
    return FunctionDestinationAdapter(lambda: Workspace(FUNCTION), functions, clock=lambda: NOW, monotonic=monotonic)  # type: ignore[arg-type, return-value]


def test_a_destination_function_gets_segments_delete_event_per_user():
    functions = ScriptedFunctions()
    adapter = function_adapter(functions)
    assert adapter.supports_deletion is True
    attempts = adapter.delete_users(function_destination(), ["u1", "u2"], DEADLINE)
    [events] = functions.calls
    assert [event["userId"] for event in events] == ["u1", "u2"]
    for event in events:
        assert set(event) == {"type", "userId", "messageId", "timestamp", "context"}
        assert (event["type"], event["context"]) == ("delete", {})
        uuid.UUID(event["messageId"])
        assert event["timestamp"].endswith("Z")
        assert datetime.fromisoformat(event["timestamp"]).timestamp() == NOW
    assert events[0]["messageId"] != events[1]["messageId"]
    assert [(attempt.user_ids, attempt.status, attempt.code) for attempt in attempts] == [
        (("u1",), DELIVERED, "ok"),
        (("u2",), DELIVERED, "ok"),
    ]
    assert attempts[0].request == {"function": "forget", "event": events[0]}


def test_a_destination_functions_outcomes_become_deletion_attempts():
    functions = ScriptedFunctions(
        {
            "later": EventResult(ERROR, code=RETRY, message="RetryError: later"),
            "none": EventResult(ERROR, code=UNSUPPORTED, message="no on_delete handler"),
            "bad": EventResult(ERROR, code="bad_request", message="KeyError: 'x'"),
        }
    )
    attempts = function_adapter(functions).delete_users(
        function_destination(), ["ok", "later", "none", "bad"], DEADLINE
    )
    assert [(attempt.status, attempt.code) for attempt in attempts] == [
        (DELIVERED, "ok"),
        (RETRY_LATER, "retry"),
        (FINAL, "unsupported_event_type"),
        (FINAL, "bad_request"),
    ]
    assert attempts[1].response == {"status": "error", "code": "retry", "error": "RetryError: later"}


def test_a_destination_functions_deletions_go_in_invocations_of_fifty():
    functions = ScriptedFunctions()
    attempts = function_adapter(functions).delete_users(function_destination(), [f"u{n}" for n in range(120)], DEADLINE)
    assert [len(events) for events in functions.calls] == [50, 50, 20]
    assert len(attempts) == 120


def test_no_invocation_starts_that_would_not_end_before_the_deadline():
    functions = ScriptedFunctions()
    attempts = function_adapter(functions).delete_users(function_destination(), ["u1"], deadline=3.0)
    assert functions.calls == []
    assert [(attempt.status, attempt.code) for attempt in attempts] == [(RETRY_LATER, "out_of_time")]


def test_a_missing_function_refuses_the_deletion():
    attempts = function_adapter(ScriptedFunctions()).delete_users(function_destination("gone"), ["u1"], DEADLINE)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [(FINAL, "function_not_configured")]


FORGETTING = """
seen = []

def on_batch(events, settings):
    seen.append(("batch", [event["type"] for event in events]))

def on_track(event, settings):
    seen.append(("track", event["event"]))

def on_delete(event, settings):
    if event["userId"] == "later":
        from switchyard.functions import RetryError
        raise RetryError("the tool is down")
    seen.append(("delete", event["userId"], settings["mark"]))
"""


def runner_of(tmp_path: Path, code: str) -> FunctionRunner:
    path = tmp_path / "forget.py"
    path.write_text(code)
    return FunctionRunner(load_module(path), "destination", 2)


def test_delete_events_go_to_on_delete_even_beside_on_batch(tmp_path: Path):
    runner = runner_of(tmp_path, FORGETTING)
    events = [
        {"type": "track", "event": "A"},
        {"type": "delete", "userId": "u1"},
        {"type": "track", "event": "B"},
        {"type": "delete", "userId": "later"},
    ]
    results = runner.run_events(events, {"mark": "x"})
    assert [(result.status, result.code) for result in results] == [(OK, ""), (OK, ""), (OK, ""), (ERROR, RETRY)]
    assert runner.module.seen == [("batch", ["track", "track"]), ("delete", "u1", "x")]


def test_a_batch_of_deletes_alone_never_reaches_on_batch(tmp_path: Path):
    runner = runner_of(tmp_path, FORGETTING)
    attempts = function_adapter(InProcessFunctions(runner)).delete_users(function_destination(), ["u1", "u2"], DEADLINE)
    assert [attempt.status for attempt in attempts] == [DELIVERED, DELIVERED]
    assert runner.module.seen == [("delete", "u1", "x"), ("delete", "u2", "x")]


def test_a_function_without_on_delete_cannot_delete(tmp_path: Path):
    runner = runner_of(tmp_path, "def on_batch(events, settings):\n    raise RuntimeError('never called')\n")
    [attempt] = function_adapter(InProcessFunctions(runner)).delete_users(function_destination(), ["u1"], DEADLINE)
    assert (attempt.status, attempt.code) == (FINAL, "unsupported_event_type")


def test_deletion_attempts_are_the_shared_record():
    attempt = DeletionAttempt(("u1",), DELIVERED, "200", {}, {})
    assert attempt.retry_after is None
    with pytest.raises(AttributeError):
        attempt.code = "x"  # type: ignore[misc]
