"""Stand-ins for the tools the demo workspace delivers to (`make run`), so every adapter runs end to
end on one machine: each answers a request as its tool's API does on success, ids handed out
included (Intercom's contacts, HubSpot's companies), which the adapters' chained steps need, and
the user-deletion endpoints (Braze, Customer.io, Klaviyo's look-up then deletion job, HubSpot's
GDPR delete), which forget the users they delete.

The demo receiver routes by the first path segment: a demo destination's `endpoint` is
`http://127.0.0.1:9000/<tool>` (the Slack webhook URL likewise), and anything else is a webhook
or PostHog's `/batch/` (and Amplitude's, Mixpanel's and PostHog's deletion requests), answered
`200`, which their adapters read as a deletion taken. Only the happy path is played here; the end-to-end tests
play each tool's refusals, throttling and outages with receivers of their own.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from switchyard.devstack.receiver import Answer, Received, accept

JSON_API = {"Content-Type": "application/vnd.api+json"}
_INTERCOM_CONTACT = re.compile(r"/contacts/(\w+)(/companies)?")
# Klaviyo's Get Profiles filter as the deletion's look-up sends it: `equals(external_id,"<id>")`.
_KLAVIYO_EXTERNAL_ID = re.compile(r'equals\(external_id,("(?:[^"\\]|\\.)*")\)')


class ToolStandIns:
    """A receiver's responder answering as Braze, Customer.io, Slack, Klaviyo, Meta, HubSpot and
    Intercom would; `tool_of(received)` names which one a request was for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1001)
        self._intercom_contacts: dict[str, dict[str, Any]] = {}  # by external_id
        self._intercom_companies: dict[str, dict[str, Any]] = {}  # by company_id
        self._hubspot_records: dict[tuple[str, str], str] = {}  # (object type, id property value) -> id
        self._klaviyo_profiles: dict[str, str] = {}  # external_id -> profile id
        self._tools: dict[str, Callable[[str, Received], Answer]] = {
            "braze": self._braze,
            "customerio": _customerio,
            "slack": _slack,
            "klaviyo": self._klaviyo,
            "facebook": _facebook,
            "hubspot": self._hubspot,
            "intercom": self._intercom,
        }

    def tool_of(self, received: Received) -> str | None:
        tool = received.path.lstrip("/").split("/", 1)[0]
        return tool if tool in self._tools else None

    def describe(self, received: Received) -> str | None:
        """The demo terminal's line for a request a stand-in answered (None: not a tool's)."""
        tool = self.tool_of(received)
        return None if tool is None else describe_request(tool, received)

    def __call__(self, received: Received) -> Answer:
        tool = self.tool_of(received)
        if tool is None:
            return accept(received)
        path = received.path[len(tool) + 1 :] or "/"
        with self._lock:
            return self._tools[tool](path, received)

    def _next_id(self) -> str:
        return str(next(self._ids))

    # -- per tool ----------------------------------------------------------------------------

    def _braze(self, path: str, received: Received) -> Answer:
        body = _json(received)
        if path == "/users/track":
            counts = {f"{name}_processed": len(body.get(name, [])) for name in ("attributes", "events", "purchases")}
            return 201, {}, orjson.dumps({**counts, "message": "success"})
        if path == "/users/delete":
            return 201, {}, orjson.dumps({"deleted": len(body.get("external_ids", [])), "message": "success"})
        aliases = body.get("aliases_to_identify") or body.get("user_aliases") or []
        return 201, {}, orjson.dumps({"aliases_processed": len(aliases), "message": "success"})

    def _klaviyo(self, path: str, received: Received) -> Answer:
        if path.startswith("/api/events"):
            return 202, {}, b""
        if path.startswith("/api/profiles"):  # a deletion's look-up by external_id
            return 200, JSON_API, orjson.dumps({"data": self._klaviyo_found(received.query)})
        if path.startswith("/api/data-privacy-deletion-jobs"):
            job = _json(received).get("data", {}).get("attributes", {})
            deleted = job.get("profile", {}).get("data", {}).get("id")
            self._klaviyo_profiles = {key: kept for key, kept in self._klaviyo_profiles.items() if kept != deleted}
            return 202, {}, b""
        attributes = _json(received).get("data", {}).get("attributes", {})
        external_id = attributes.get("external_id")
        profile_id = self._klaviyo_profiles.get(external_id) if external_id else None
        if profile_id is None:
            profile_id = "01DEMO" + self._next_id()
            if external_id:
                self._klaviyo_profiles[external_id] = profile_id
        profile = {"data": {"type": "profile", "id": profile_id, "attributes": attributes}}
        return 201, JSON_API, orjson.dumps(profile)

    def _klaviyo_found(self, query: str) -> list[dict[str, Any]]:
        matched = _KLAVIYO_EXTERNAL_ID.search(dict(parse_qsl(query)).get("filter", ""))
        if matched is None:
            return []
        external_id = orjson.loads(matched.group(1))
        profile_id = self._klaviyo_profiles.get(external_id)
        if profile_id is None:
            return []
        return [{"type": "profile", "id": profile_id, "attributes": {"external_id": external_id}}]

    def _hubspot(self, path: str, received: Received) -> Answer:
        body = _json(received)
        if path.startswith("/events/"):
            return 204, {}, b""
        if path == "/crm/v3/objects/contacts/gdpr-delete":
            self._hubspot_records.pop(("contacts", str(body.get("objectId"))), None)
            return 204, {}, b""
        if "/associations/" in path:
            results = [{"from": item["from"], "to": item["to"]} for item in body.get("inputs", [])]
            return 200, {}, orjson.dumps({"status": "COMPLETE", "results": results})
        kind = "companies" if "/companies/" in path else "contacts"
        results = []
        for item in body.get("inputs", []):
            key = (kind, str(item.get("id")))
            new = key not in self._hubspot_records
            record_id = self._hubspot_records.setdefault(key, self._next_id())
            result = {"id": record_id, "properties": item.get("properties", {}), "new": new}
            if "objectWriteTraceId" in item:
                result["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(result)
        return 200, {}, orjson.dumps({"status": "COMPLETE", "results": results})

    def _intercom(self, path: str, received: Received) -> Answer:
        body = _json(received)
        method = received.method
        if (method, path) == ("POST", "/contacts/search"):
            found = [c for c in (self._intercom_contacts.get(str(body["query"]["value"])),) if c]
            return 200, {}, orjson.dumps({"type": "list", "data": found, "total_count": len(found)})
        if (method, path) == ("POST", "/contacts"):
            contact = {"type": "contact", "id": self._next_id(), **body}
            self._intercom_contacts[str(body.get("external_id"))] = contact
            return 200, {}, orjson.dumps(contact)
        if (method, path) == ("POST", "/companies"):
            company = self._intercom_companies.setdefault(
                str(body.get("company_id")), {"type": "company", "id": self._next_id()}
            )
            company.update(body)
            return 200, {}, orjson.dumps(company)
        if (method, path) == ("POST", "/events"):
            return 202, {}, b""
        contact_path = _INTERCOM_CONTACT.fullmatch(path)
        if contact_path is not None:
            contact = next((c for c in self._intercom_contacts.values() if c["id"] == contact_path.group(1)), None)
            if contact is None:
                return 404, {}, _intercom_error("not_found", "User Not Found")
            if contact_path.group(2):  # attach a company
                company = next((c for c in self._intercom_companies.values() if c["id"] == body.get("id")), None)
                if company is None:
                    return 404, {}, _intercom_error("company_not_found", "Company Not Found")
                return 200, {}, orjson.dumps(company)
            contact.update(body)
            return 200, {}, orjson.dumps(contact)
        return 404, {}, _intercom_error("not_found", "Resource Not Found")


def _customerio(path: str, received: Received) -> Answer:
    return 200, {}, b"{}"


def _slack(path: str, received: Received) -> Answer:
    return 200, {"Content-Type": "text/plain"}, b"ok"


def _facebook(path: str, received: Received) -> Answer:
    events = _json(received).get("data", [])
    return 200, {}, orjson.dumps({"events_received": len(events), "messages": [], "fbtrace_id": "DemoTrace"})


def _intercom_error(code: str, message: str) -> bytes:
    return orjson.dumps({"type": "error.list", "errors": [{"code": code, "message": message}]})


def _json(received: Received) -> dict[str, Any]:
    try:
        parsed = orjson.loads(received.body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def describe_request(tool: str, received: Received) -> str:
    """One line per request a stand-in answered, for the demo's terminal."""
    body = _json(received)
    items = body.get("inputs") or body.get("batch") or body.get("data") or body.get("events")
    count = len(items) if isinstance(items, list) else 1
    return f"[{tool}] {received.method} {received.path} ({count} item{'s' if count != 1 else ''})"
