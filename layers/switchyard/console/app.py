"""The console's pages: Sources (the live Debugger), Destinations (the Delivery Overview), Replays,
Usage. Server-rendered with Flask and Jinja (autoescaped: payloads are untrusted text); a little
JavaScript follows the Debugger and draws the charts with the vendored Chart.js.

It listens on 127.0.0.1 only and acts with the operator's credentials, so it guards against other
pages in the operator's browser: requests must name a local host (no DNS rebinding), and a form
post must carry this process's token and, when the browser sends one, a local Origin (no
cross-site request forgery).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from switchyard.cli.reports import parse_period
from switchyard.console.data import ConsoleData
from switchyard.console.views import debugger_rows, overview_view, replay_view, sampling_text, usage_view
from switchyard.debugger.store import DebuggerCursor
from switchyard.replay.model import ReplayRequestError
from switchyard.replay.operator import CALL_TYPES, build_request
from switchyard.replay.store import FINISHED

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
PERIODS = ("30m", "1h", "6h", "24h", "7d")
DEBUGGER_LIMITS = (50, 100, 500)


def create_app(data: ConsoleData, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Flask:
    app = Flask(__name__)
    token = secrets.token_urlsafe(32)

    @app.context_processor
    def common() -> dict[str, Any]:
        return {"where": data.where, "region": data.region, "token": token}

    @app.before_request
    def only_this_machine() -> Response | None:
        if urlsplit(f"//{request.host}").hostname not in LOCAL_HOSTS:
            return problem(403, "forbidden_host", "The console answers requests to 127.0.0.1 or localhost only.")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            sent = request.form.get("token", "")
            if not secrets.compare_digest(sent, token) or (origin and urlsplit(origin).hostname not in LOCAL_HOSTS):
                return problem(403, "forbidden", "This form was not sent from the console; reload the page.")
        return None

    @app.errorhandler(ClientError)
    @app.errorhandler(BotoCoreError)
    def aws_failed(error: Exception) -> Response:
        return problem(502, "aws_error", f"{data.where} did not answer: {error}")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return problem(error.code or 500, "not_found" if error.code == 404 else "error", error.description or "")

    def problem(status: int, code: str, message: str) -> Response:
        if request.path.startswith("/api/"):
            return Response(orjson.dumps({"code": code, "message": message}), status, mimetype="application/json")
        return Response(render_template("problem.html", code=code, message=message), status)

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("sources"))

    @app.get("/sources")
    def sources() -> str:
        workspace = data.workspace()
        today = clock().strftime("%Y-%m-%d")
        usage = data.usage.on_day([source.id for source in workspace.sources], today)
        return render_template("sources.html", section="sources", workspace=workspace, today=today, usage=usage)

    @app.get("/sources/<source_id>")
    def source(source_id: str) -> str:
        workspace = data.workspace()
        found = workspace.source(source_id)
        if found is None:
            abort(404, f"No source {source_id!r} in workspace {workspace.workspace!r}.")
        search, call_type, limit = debugger_query()
        page = data.debugger.latest(source_id, limit=limit, search=search, call_type=call_type)
        return render_template(
            "source.html",
            section="sources",
            source=found,
            page=page,
            rows=debugger_rows(page),
            sampling=sampling_text(page.sampling_rate),
            cursor=page.cursor.encode(),
            search=search or "",
            call_type=call_type or "",
            limit=limit,
            call_types=CALL_TYPES,
            limits=DEBUGGER_LIMITS,
        )

    @app.get("/api/sources/<source_id>/debugger")
    def source_debugger(source_id: str) -> Response:
        """What the page's live view polls: messages newer than `after` (all of the latest without it)."""
        if data.workspace().source(source_id) is None:
            abort(404, f"No source {source_id!r}.")
        search, call_type, limit = debugger_query()
        try:
            after = DebuggerCursor.decode(request.args["after"]) if request.args.get("after") else None
        except ValueError as error:
            abort(400, str(error))
        page = data.debugger.latest(source_id, limit=limit, search=search, call_type=call_type, after=after)
        body = {
            "rows": debugger_rows(page),
            "sampling": sampling_text(page.sampling_rate) if page.sampling_rate is not None else None,
            "cursor": page.cursor.encode(),
        }
        return Response(orjson.dumps(body), mimetype="application/json")

    def debugger_query() -> tuple[str | None, str | None, int]:
        call_type = request.args.get("type") or None
        if call_type is not None and call_type not in CALL_TYPES:
            abort(400, f"type is one of {', '.join(CALL_TYPES)}")
        limit = request.args.get("limit", type=int) or DEBUGGER_LIMITS[1]
        return request.args.get("search") or None, call_type, max(1, min(limit, DEBUGGER_LIMITS[-1]))

    @app.get("/destinations")
    def destinations() -> str:
        workspace = data.workspace()
        hour = timedelta(hours=1)
        overviews = {d.id: overview_view(data.overview(workspace, d.id, hour)) for d in workspace.destinations}
        return render_template("destinations.html", section="destinations", workspace=workspace, overviews=overviews)

    @app.get("/destinations/<destination_id>")
    def destination(destination_id: str) -> str:
        workspace = data.workspace()
        found = workspace.destination(destination_id)
        if found is None:
            abort(404, f"No destination {destination_id!r} in workspace {workspace.workspace!r}.")
        since = request.args.get("since", "1h")
        try:
            period = parse_period(since)
        except ValueError as error:
            abort(400, str(error))
        view = overview_view(data.overview(workspace, destination_id, period))
        return render_template(
            "destination.html", section="destinations", destination=found, view=view, since=since, periods=PERIODS
        )

    @app.get("/replays")
    def replays() -> str:
        return replays_page()

    def replays_page(error: str | None = None, form: dict[str, Any] | None = None, status: int = 200) -> Any:
        workspace = data.workspace()
        now = clock()
        defaults = {
            "source": "",
            "destinations": [],
            "start": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "end": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),  # the field has minutes: round up
            "types": [],
        }
        page = render_template(
            "replays.html",
            section="replays",
            workspace=workspace,
            records=[replay_view(record) for record in data.replays.list()],
            error=error,
            form=form or defaults,
            call_types=CALL_TYPES,
        )
        return page, status

    @app.post("/replays")
    def start_replay() -> Any:
        form = {
            "source": request.form.get("source", ""),
            "destinations": request.form.getlist("destination"),
            "start": request.form.get("start", ""),
            "end": request.form.get("end", ""),
            "types": request.form.getlist("type"),
        }
        try:
            replay = build_request(
                data.workspace(),
                source=form["source"],
                destinations=form["destinations"],
                start=as_utc(form["start"]),
                end=as_utc(form["end"]),
                retention_days=data.retention_days,
                types=form["types"] or None,
                now=clock(),
            )
        except ReplayRequestError as error:
            return replays_page(str(error), form, 400)
        replay_id = data.replays.start(replay)
        return redirect(url_for("replay", replay_id=replay_id), 303)

    @app.get("/replays/<replay_id>")
    def replay(replay_id: str) -> str:
        record = data.replays.status(replay_id)
        if record is None:
            abort(404, f"No replay {replay_id!r} in {data.region}.")
        return render_template(
            "replay.html", section="replays", replay=replay_view(record), running=record.status not in FINISHED
        )

    @app.post("/replays/<replay_id>/cancel")
    def cancel_replay(replay_id: str) -> Response:
        if data.replays.cancel(replay_id) is None:
            abort(404, f"No replay {replay_id!r} in {data.region}.")
        return redirect(url_for("replay", replay_id=replay_id), 303)

    @app.get("/usage")
    def usage() -> str:
        month = request.args.get("month") or clock().strftime("%Y-%m")
        try:
            datetime.strptime(month, "%Y-%m")
        except ValueError:
            abort(400, f"month is YYYY-MM, like {clock():%Y-%m}; got {month!r}")
        source_id = request.args.get("source") or None
        workspace = data.workspace()
        if source_id is not None and workspace.source(source_id) is None:
            abort(404, f"No source {source_id!r} in workspace {workspace.workspace!r}.")
        source_ids = [source_id] if source_id else [source.id for source in workspace.sources]
        view = usage_view(data.usage.report(source_ids, month))
        return render_template(
            "usage.html", section="usage", workspace=workspace, view=view, month=month, source_id=source_id or ""
        )

    return app


def as_utc(form_time: str) -> str:
    """A `datetime-local` field's value (no zone: the page says UTC) as the replay command takes it."""
    text = form_time.strip()
    if text and not text.endswith("Z") and "+" not in text:
        text += ":00Z" if len(text) == len("2026-01-01T00:00") else "Z"
    return text
