"""`switchyard apply`: validate a workspace file completely, then store it in one atomic write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.store import ConfigStore
from switchyard.config.workspace import compile_workspace, load_workspace


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


def apply_workspace(path: str | Path, store: ConfigStore) -> ApplyResult:
    """Raises ConfigError (nothing changed) for a bad file, ConcurrentApplyError on a race."""
    compiled = compile_workspace(load_workspace(path))
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
