"""The workspace the fuzzer runs against: one live source, one disabled, one source function.

Ids and keys are distinctive strings, so finding one in an answer is a leak, not a coincidence.
"""

from __future__ import annotations

from pathlib import Path

WEB_KEY = "wk_fuzz_web_5b1d93"
DISABLED_KEY = "wk_fuzz_off_c07e42"
WEB_SOURCE = "src-fuzz-web-4e2a"
DISABLED_SOURCE = "src-fuzz-off-91b7"
FUNCTION_ID = "fuzzhook-7c1f"
FUNCTION_SECRET = "whsec_fuzz_e5a90b3c"  # the function puts it in its exception text: it must not leak

WORKSPACE = f"""\
workspace: fuzz
sources:
  - {{id: {WEB_SOURCE}, name: Fuzzed, write_key: {WEB_KEY}}}
  - {{id: {DISABLED_SOURCE}, name: Disabled, write_key: {DISABLED_KEY}, enabled: false}}
functions:
  - id: {FUNCTION_ID}
    kind: source
    file: functions/fuzzhook.py
    source: {WEB_SOURCE}
    settings: {{label: fuzz}}
    secrets: {{signing_key: {FUNCTION_SECRET}}}
    timeout_seconds: 2
"""

# Emits what the body asks for, so generated bodies reach every outcome of a source function.
FUNCTION_CODE = """\
from switchyard import functions
from switchyard.functions import InvalidEventPayload, RetryError

EMITTERS = {name: getattr(functions, name) for name in ("identify", "track", "page", "screen", "group", "alias")}


def on_request(request, settings):
    if "form" in request.headers.get("content-type", ""):
        body = request.form()
    else:
        body = request.json()
    if not isinstance(body, dict):
        raise InvalidEventPayload("the body is not an object")
    kind = body.get("kind")
    if kind == "crash":
        raise KeyError(f"no customer for {settings['signing_key']} at /srv/app/secret.py")
    if kind == "retry":
        raise RetryError(f"upstream busy ({settings['signing_key']})")
    if kind == "nan":
        functions.track(user_id="u", event="Ratio", properties={"ratio": float("nan")})
        return
    messages = body.get("messages")
    for item in messages if isinstance(messages, list) else []:
        if isinstance(item, dict):
            emit = EMITTERS.get(item.get("type"), functions.track)
            emit(**{key: value for key, value in item.items() if key != "type"})
"""

FUNCTION_SETTINGS = {"label": "fuzz", "signing_key": FUNCTION_SECRET}


def write_workspace(folder: Path) -> Path:
    """The workspace file and its function, in `folder`; returns the workspace file's path."""
    (folder / "functions").mkdir(parents=True, exist_ok=True)
    (folder / "functions" / "fuzzhook.py").write_text(FUNCTION_CODE)
    config = folder / "workspace.yaml"
    config.write_text(WORKSPACE)
    return config
