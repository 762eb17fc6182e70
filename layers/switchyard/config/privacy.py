"""The workspace file's `privacy` (its own personal-data matchers, the inventory switch) and a
destination's `pii` (classes removed or hashed before delivery)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchyard.config.compiled import DestinationPii, PiiMatcher, PrivacySettings
from switchyard.privacy.pii import BUILT_IN, BUILT_IN_NAMES, normalized_key


class PiiMatcherSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    keys: list[str] = Field(default_factory=list, description="Key names (without case, _, -, spaces, dots)")
    pattern: str | None = Field(default=None, description="A regular expression a whole string value matches")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from error
        return pattern

    def compiled(self) -> PiiMatcher:
        return PiiMatcher(self.name, tuple(self.keys), self.pattern)


class PrivacySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inventory: bool = Field(default=True, description="The router counts where each class of personal data is seen")
    matchers: list[PiiMatcherSpec] = Field(default_factory=list, max_length=50)

    @field_validator("matchers")
    @classmethod
    def _new_names(cls, matchers: list[PiiMatcherSpec]) -> list[PiiMatcherSpec]:
        names = [matcher.name for matcher in matchers]
        taken = sorted({name for name in names if name in BUILT_IN_NAMES or names.count(name) > 1})
        if taken:
            raise ValueError(f"matcher names already taken (built in, or twice): {taken}")
        if any(not matcher.keys and matcher.pattern is None for matcher in matchers):
            raise ValueError("a matcher needs keys, a pattern, or both")
        owners = {normalized_key(key): matcher.name for matcher in BUILT_IN for key in matcher.keys}
        for matcher in matchers:
            for key in matcher.keys:
                owner = owners.setdefault(normalized_key(key), matcher.name)
                if owner != matcher.name:
                    raise ValueError(f"matcher {matcher.name!r}: key {key!r} already belongs to {owner!r}")
        return matchers

    def compiled(self) -> PrivacySettings:
        return PrivacySettings(self.inventory, tuple(matcher.compiled() for matcher in self.matchers))


class DestinationPiiSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    block: list[str] = Field(default_factory=list, description="Classes removed from its events")
    hash: list[str] = Field(default_factory=list, description="Classes sent as SHA-256 (hex)")

    def compiled(self) -> DestinationPii:
        return DestinationPii(tuple(self.block), tuple(self.hash))


def check_pii_classes(destinations: list[tuple[str, DestinationPiiSpec]], privacy: PrivacySpec | None) -> None:
    known = BUILT_IN_NAMES | {matcher.name for matcher in (privacy.matchers if privacy else ())}
    for destination_id, pii in destinations:
        unknown = sorted(set(pii.block + pii.hash) - known)
        if unknown:
            raise ValueError(f"destination {destination_id!r}: unknown pii classes {unknown}; known: {sorted(known)}")
        both = sorted(set(pii.block) & set(pii.hash))
        if both:
            raise ValueError(f"destination {destination_id!r}: pii classes both blocked and hashed: {both}")
