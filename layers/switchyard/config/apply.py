"""`switchyard apply`: validate a workspace file completely, then store it in one atomic write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.store import ConfigStore
from switchyard.config.workspace import ConfigError, compile_workspace, load_workspace
from switchyard.functions.secrets import FunctionSecrets, token_hash


@dataclass(frozen=True)
class ApplyResult:
    version: int
    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: bool

    def summary(self) -> str:
        if self.unchanged:
            return f"workspace unchanged (version {self.version})"
        parts = [f"applied workspace version {self.version}"]
        for label, ids in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            if ids:
                parts.append(f"sources {label}: {', '.join(ids)}")
        return "; ".join(parts)


def apply_workspace(path: str | Path, store: ConfigStore, secrets: FunctionSecrets | None = None) -> ApplyResult:
    """Raises ConfigError (nothing changed) for a bad file, ConcurrentApplyError on a race.

    Function secrets and source-function tokens go to SSM (`secrets`) before the config is
    written; the config keeps only secret names and token hashes.
    """
    spec = load_workspace(path)
    tokens: dict[str, str] = {}
    if spec.functions:
        if secrets is None:
            raise ConfigError("this workspace has functions: applying it needs access to SSM for their secrets")
        for function in spec.functions:
            secrets.store(function.id, function.secrets)
            if function.kind == "source":
                tokens[function.id] = token_hash(secrets.token(function.id))
    compiled = compile_workspace(spec, tokens)
    current = store.load()
    if current is not None and current.workspace == compiled:
        return ApplyResult(current.version, [], [], [], unchanged=True)
    previous = current.workspace if current else CompiledWorkspace(workspace="")
    saved = store.save(compiled, expected_version=current.version if current else None)
    before = {source.id: source for source in previous.sources}
    after = {source.id: source for source in compiled.sources}
    return ApplyResult(
        version=saved.version,
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=sorted(key for key in after.keys() & before.keys() if after[key] != before[key]),
        unchanged=False,
    )
