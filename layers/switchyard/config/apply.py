"""`switchyard apply`: validate a workspace file completely, then store it in one atomic write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from switchyard.alerts.manager import AlertManager
from switchyard.config.alerts import notify_warnings
from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.credentials import DestinationCredentialStore
from switchyard.config.store import ConfigStore
from switchyard.config.workspace import ConfigError, WorkspaceSpec, compile_workspace, load_workspace
from switchyard.destinations.catalog import TOOLS
from switchyard.functions.secrets import FunctionSecrets, token_hash


@dataclass(frozen=True)
class ApplyResult:
    version: int
    # (kind, what happened) -> ids, e.g. ("sources", "added") -> ["web"]
    changes: dict[tuple[str, str], list[str]]
    unchanged: bool
    warnings: tuple[str, ...] = ()  # applied, but worth a look (data residency)

    def summary(self) -> str:
        if self.unchanged:
            return f"workspace unchanged (version {self.version})"
        parts = [f"applied workspace version {self.version}"]
        parts += [f"{kind} {what}: {', '.join(ids)}" for (kind, what), ids in self.changes.items() if ids]
        return "; ".join(parts)


def _differences(kind: str, before: dict[str, object], after: dict[str, object]) -> dict[tuple[str, str], list[str]]:
    return {
        (kind, "added"): sorted(after.keys() - before.keys()),
        (kind, "removed"): sorted(before.keys() - after.keys()),
        (kind, "changed"): sorted(key for key in after.keys() & before.keys() if after[key] != before[key]),
    }


def apply_workspace(
    path: str | Path,
    store: ConfigStore,
    secrets: FunctionSecrets | None = None,
    credentials: DestinationCredentialStore | None = None,
    region: str = "",
    alerts: AlertManager | None = None,
) -> ApplyResult:
    """Raises ConfigError (nothing changed) for a bad file, ConcurrentApplyError on a race.

    Function secrets and destination credentials go to SSM once the config is written (a refused
    apply changes no secret); the config keeps only their names and source-function token hashes
    (a token is created on first apply, harmless if that apply is then refused). The alerts'
    alarms follow (switchyard.alerts.manager): with `alerts` given, a file without an `alerts:`
    section removes the region's alarms.
    """
    spec = load_workspace(path)
    if alerts is None and spec.alerts is not None:
        raise ConfigError(
            "this workspace has alerts: applying it needs the stack's alert topic (deploy this version) "
            "and access to CloudWatch, SNS and SSM"
        )
    warnings = residency_warnings(spec, region) + (notify_warnings(spec.alerts) if spec.alerts else [])
    tokens: dict[str, str] = {}
    if spec.functions:
        if secrets is None:
            raise ConfigError("this workspace has functions: applying it needs access to SSM for their secrets")
        tokens = {f.id: token_hash(secrets.token(f.id)) for f in spec.functions if f.kind == "source"}
    compiled = compile_workspace(spec, tokens)
    if credentials is None and any(destination.credentials for destination in compiled.destinations):
        raise ConfigError("this workspace has destination credentials: applying it needs access to SSM")
    current = store.load()
    if current is not None and current.workspace == compiled:
        # The config holds no secret values (nor the alerts): they may still have changed.
        _store_secrets(spec, secrets, credentials)
        alert_changes = _apply_alerts(spec, alerts, warnings)
        unchanged = not any(alert_changes.values())
        return ApplyResult(current.version, alert_changes, unchanged=unchanged, warnings=tuple(warnings))
    previous = current.workspace if current else CompiledWorkspace(workspace="")
    saved = store.save(compiled, expected_version=current.version if current else None)
    _store_secrets(spec, secrets, credentials)
    if credentials is not None:
        for removed in {d.id for d in previous.destinations} - {d.id for d in compiled.destinations}:
            credentials.store(removed, {})
    changes: dict[tuple[str, str], list[str]] = {}
    for kind in ("sources", "destinations", "functions"):
        before = {item.id: item for item in getattr(previous, kind)}
        after = {item.id: item for item in getattr(compiled, kind)}
        changes.update(_differences(kind, before, after))
    changes.update(_apply_alerts(spec, alerts, warnings))
    return ApplyResult(version=saved.version, changes=changes, unchanged=False, warnings=tuple(warnings))


def _apply_alerts(
    spec: WorkspaceSpec, alerts: AlertManager | None, warnings: list[str]
) -> dict[tuple[str, str], list[str]]:
    """The region's alarms and recipients as the file says; appends the manager's warnings."""
    if alerts is None:
        return {}
    changes, alert_warnings = alerts.apply(spec.alerts)
    warnings.extend(alert_warnings)
    return changes


def residency_warnings(spec: WorkspaceSpec, region: str) -> list[str]:
    """In an EU stack, destinations that would send outside the EU (set to `region: us`, or a tool
    without an EU host)."""
    warnings = []
    for destination in spec.destinations:
        kind = TOOLS.get(destination.type)
        if kind is None or destination.settings is None:
            continue
        warning = kind.residency_warning(destination.settings, region)
        if warning:
            warnings.append(f"destination {destination.id!r} {warning}, though this stack is in {region}")
    return warnings


def _store_secrets(
    spec: WorkspaceSpec, secrets: FunctionSecrets | None, credentials: DestinationCredentialStore | None
) -> None:
    if secrets is not None:
        for function in spec.functions:
            secrets.store(function.id, function.secrets)
    if credentials is not None:
        for destination in spec.destinations:
            credentials.store(destination.id, destination.settings.credentials() if destination.settings else {})
