"""What must hold for every answer, and for what lands in the stream.

Every answer: no 5xx (but a 503 with Retry-After that a source function asked for with RetryError,
an injected failure), answered within the Lambda's time-out, CORS headers, every error a JSON
object of exactly a string `code` and a string `message`, conformance to the OpenAPI document
(status, headers, media type, body schema), and nothing internal or secret in it: no traceback or
Python exception name, no file path, no AWS resource name or account, no source id, no write key
(but the settings document's own) nor webhook token or function secret.

Clean requests (built only from valid parts) must be accepted; their tagged messages must land in
the stream exactly once, and nothing refused may land.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from switchyard.ingest.messages import CALL_TYPES
from switchyard.ingest.openapi import DOCUMENT_PATH
from tests.fuzz.config import SLOW_ANSWER_SECONDS
from tests.fuzz.generate import UNKNOWN_KEY
from tests.fuzz.wire import Answer, Request
from tests.fuzz.workspace import DISABLED_KEY, DISABLED_SOURCE, FUNCTION_SECRET, WEB_KEY, WEB_SOURCE

_DOC_URI = "urn:switchyard:openapi"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|/work/|/var/task|/opt/python|/srv/|"
    r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b|<[\w.]+ object at 0x|\bline \d+, in\b|"
    r"arn:aws|amazonaws\.com|\b000000000000\b|botocore|boto3|orjson\.|switchyard\.|moto\b",
)
CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class Violation:
    rule: str
    request: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.detail}\n    request: {self.request}"


@dataclass
class Contract:
    """The OpenAPI document as a checker: find a request's operation, validate its answer."""

    document: dict[str, Any] = field(default_factory=lambda: orjson.loads(DOCUMENT_PATH.read_bytes()))

    def __post_init__(self) -> None:
        registry: Registry = Registry().with_resource(
            _DOC_URI, Resource.from_contents(self.document, default_specification=DRAFT202012)
        )
        self._registry = registry
        self._validators: dict[str, Draft202012Validator] = {}
        self.operations: list[tuple[str, list[str], str]] = []  # (method, template segments, pointer)
        for path, item in self.document["paths"].items():
            pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1")
            if "$ref" in item:
                pointer = item["$ref"][1:]
            resolved = self._at(pointer)
            for method in resolved:
                if method in _METHODS:
                    self.operations.append((method.upper(), path.strip("/").split("/"), f"{pointer}/{method}"))
        # Concrete paths before templated ones, as OpenAPI matches them.
        self.operations.sort(key=lambda op: sum(segment.startswith("{") for segment in op[1]))

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"][1:]
            node = self._at(pointer)
        return node, pointer

    def validator(self, pointer: str) -> Draft202012Validator:
        found = self._validators.get(pointer)
        if found is None:
            found = self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{_DOC_URI}#{pointer}"}, registry=self._registry
            )
        return found

    def operation(self, method: str, path: str) -> str | None:
        """The JSON pointer of the operation serving `method path`, as the handler routes it."""
        segments = unquote(path).strip("/").split("/")
        if method == "OPTIONS":  # the handler answers a preflight on every path
            method, segments = "OPTIONS", ["v1", "{proxy+}"]
        for op_method, template, pointer in self.operations:
            if op_method != method:
                continue
            if template[-1].endswith("+}"):
                if len(segments) >= len(template) and all(
                    t.startswith("{") or t == s for t, s in zip(template, segments, strict=False)
                ):
                    return pointer
            elif len(segments) == len(template) and all(
                t.startswith("{") or t == s for t, s in zip(template, segments, strict=True)
            ):
                return pointer
        return None

    def check(self, request: Request, answer: Answer) -> Iterable[str]:
        """Problems of the answer against the document (an undocumented request must get a 404).

        What API Gateway answered itself (the REST API has no resource or method for the request:
        an empty path segment, a preflight on a webhook) must be the document's 404 too.
        """
        pointer = None if answer.gateway else self.operation(request.method, request.path)
        if pointer is None:
            responses_pointer = "/components/responses"
            responses = {"404": {"$ref": "#/components/responses/NotFound"}}
        else:
            responses_pointer = f"{pointer}/responses"
            responses = self._at(responses_pointer)
        status = str(answer.status)
        if status not in responses:
            yield f"status {status} is not documented for {request.method} {pointer or 'an unknown path'}"
            return
        response, response_pointer = self._deref(responses[status], f"{responses_pointer}/{status}")
        for name, header in response.get("headers", {}).items():
            header, header_pointer = self._deref(header, f"{response_pointer}/headers/{name}")
            value = answer.headers.get(name.lower())
            if value is None:
                if header.get("required"):
                    yield f"required header {name} is missing"
                continue
            for error in self.validator(f"{header_pointer}/schema").iter_errors(value):
                yield f"header {name}: {error.message}"
        content = response.get("content")
        if not content:
            if answer.body:
                yield "a body where the document has none"
            return
        if request.method == "HEAD":
            return
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in content:
            yield f"Content-Type {media_type!r} is not one of {sorted(content)}"
            return
        if media_type == "image/gif":
            if not answer.body.startswith(b"GIF8"):
                yield "not a GIF"
            return
        try:
            body = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            yield f"the body is not JSON: {answer.body[:200]!r}"
            return
        escaped = media_type.replace("~", "~0").replace("/", "~1")
        for error in self.validator(f"{response_pointer}/content/{escaped}/schema").iter_errors(body):
            yield f"body: {error.message} at {list(error.absolute_path)}"


@dataclass
class Oracle:
    contract: Contract
    # Names no answer may contain: the stream, tables and buckets of the stack under test.
    resource_names: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    # messageId -> (request, must land): tags of requests answered 200 (pixels: always)
    answered: dict[str, tuple[Request, bool]] = field(default_factory=dict)
    landed: set[str] = field(default_factory=set)

    def answer_problems(self, request: Request, answer: Answer) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        injected = request.origin.startswith("hostile:function:retry")
        if answer.status >= 500 and not (injected and answer.status == 503 and "retry-after" in answer.headers):
            problems.append(("5xx", f"{answer.status}: {answer.body[:300]!r}"))
        if answer.seconds > SLOW_ANSWER_SECONDS:
            problems.append(("slow", f"{answer.seconds:.1f} s, over the Lambda's time-out"))
        allowed = answer.headers.get("access-control-allow-origin")
        if allowed != "*":
            problems.append(("cors", f"Access-Control-Allow-Origin is {allowed!r}"))
        elif "retry-after" not in answer.headers.get("access-control-expose-headers", "").lower():
            problems.append(("cors", "Retry-After is not exposed"))
        if answer.status >= 400 and request.method != "HEAD":
            problems += [("error-shape", p) for p in error_shape(answer)]
        problems += [("leak", p) for p in self.leaks(request, answer)]
        problems += [("openapi", p) for p in self.contract.check(request, answer)]
        if request.clean and answer.status != 200:
            problems.append(("refused-valid", f"{answer.status}: {answer.body[:300]!r}"))
        if request.expected_accepted is not None and answer.status == 200:
            accepted = orjson.loads(answer.body).get("accepted")
            if accepted != request.expected_accepted:
                problems.append(("refused-valid", f"accepted {accepted} of {request.expected_accepted} valid messages"))
        return problems

    def leaks(self, request: Request, answer: Answer) -> Iterable[str]:
        text = answer.body.decode("utf-8", "replace") + "\n" + "\n".join(answer.headers.values())
        is_settings = request.method == "GET" and answer.status == 200 and request.path.endswith("/settings")
        secrets = [WEB_KEY, DISABLED_KEY, UNKNOWN_KEY, WEB_SOURCE, DISABLED_SOURCE, FUNCTION_SECRET, *request.secrets]
        secrets += [name for name in self.resource_names if name]
        if request.path == "/openapi.json" and answer.status == 200:
            return  # the document itself names paths and parameters, no secret (checked below)
        for secret in secrets:
            if secret in text and not (is_settings and secret == unquote(request.path.split("/")[3])):
                yield f"{secret!r} in the answer"
        for found in INTERNALS.finditer(text):
            if not echoed(found.group(0), request):  # the caller's own text, said back, is no internal
                yield f"internal detail {found.group(0)!r} in the answer"
                break

    def record(self, request: Request, answer: Answer) -> list[tuple[str, str]]:
        """Check one exchange; remember its tags for the stream check."""
        problems = self.answer_problems(request, answer)
        if answer.status == 200 or request.path.startswith("/v1/pixel/"):
            for tag in request.tags:
                self.answered[tag] = (request, request.clean and answer.status == 200)
        return problems

    def check_stream(self, records: list[dict[str, Any]]) -> list[Violation]:
        """Everything read from the stream since the last call, against what was answered."""
        found: list[Violation] = []
        for record in records:
            message_id = record.get("messageId")
            shown = orjson.dumps(record)[:300].decode("utf-8", "replace")
            if "writeKey" in record:
                found.append(Violation("stored-write-key", shown, "a stored event holds writeKey"))
            if record.get("projectId") != WEB_SOURCE:
                found.append(Violation("stored-wrong-source", shown, f"projectId {record.get('projectId')!r}"))
            if record.get("type") not in CALL_TYPES or not isinstance(record.get("receivedAt"), str):
                found.append(Violation("stored-malformed", shown, "type or receivedAt"))
            if isinstance(message_id, str) and message_id.startswith(FRESH_PREFIX):
                if message_id in self.landed:
                    found.append(Violation("stored-twice", shown, f"{message_id} is in the stream twice"))
                self.landed.add(message_id)
                if message_id not in self.answered:
                    found.append(Violation("stored-refused", shown, "a message of a refused request is in the stream"))
        for tag, (request, must_land) in list(self.answered.items()):
            if must_land and tag not in self.landed:
                found.append(Violation("lost", request.describe(), f"answered 200 but {tag} is not in the stream"))
            del self.answered[tag]
        self.violations += found
        return found


FRESH_PREFIX = "fz-"


def echoed(snippet: str, request: Request) -> bool:
    sent = [request.path, unquote(request.path), request.query, unquote(request.query)]
    sent += [value for _, value in request.headers]
    return any(snippet in part for part in sent) or snippet.encode() in request.body


def error_shape(answer: Answer) -> Iterable[str]:
    if not answer.headers.get("content-type", "").startswith("application/json"):
        yield f"Content-Type {answer.headers.get('content-type')!r}"
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        yield f"not JSON: {answer.body[:200]!r}"
        return
    if not isinstance(body, dict) or set(body) != {"code", "message"}:
        yield f"not exactly {{code, message}}: {answer.body[:200]!r}"
        return
    if not (isinstance(body["code"], str) and CODE.match(body["code"])):
        yield f"code {body['code']!r}"
    if not (isinstance(body["message"], str) and body["message"]):
        yield f"message {body['message']!r}"
