"""A source named on the command line, by id or by name, as the region's workspace has it."""

from __future__ import annotations

from dataclasses import dataclass

from switchyard.config.compiled import CompiledWorkspace


@dataclass(frozen=True)
class NamedSource:
    id: str
    name: str

    @property
    def title(self) -> str:
        return self.id if self.name in ("", self.id) else f"{self.id} ({self.name})"


class UnknownSource(ValueError):
    pass


def find_source(workspace: CompiledWorkspace, given: str) -> NamedSource:
    """The source whose id is `given`, else the one whose name is (any case)."""
    for source in workspace.sources:
        if source.id == given:
            return NamedSource(source.id, source.name)
    named = [source for source in workspace.sources if source.name.casefold() == given.casefold()]
    if len(named) == 1:
        return NamedSource(named[0].id, named[0].name)
    known = ", ".join(sorted(source.id for source in workspace.sources)) or "none"
    raise UnknownSource(f"no source {given!r} in the region's workspace (sources: {known})")


def every_source(workspace: CompiledWorkspace) -> list[NamedSource]:
    return [NamedSource(source.id, source.name) for source in workspace.sources]
