"""Personal data in events: built-in matchers (email, phone, credit card, IBAN, IP address, US SSN,
street address) and the workspace's own, by key name and by value.

A field is of a class when its key is one of the class's key names (compared without case, `_`,
`-`, spaces or dots: `Email_Address` is `emailaddress`), or when its whole string value matches the
class's pattern (and, for cards and IBANs, their check digits). All value patterns are compiled into
one regular expression, so a string costs one match whatever the number of matchers; strings too
short or too long to be personal data are not looked at.

Identifiers (userId, anonymousId, groupId, previousId, messageId) and the message's own fields are
never scanned: a destination needs them to work, and an email used as userId is the customer's
choice to make at the source.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from switchyard.config.compiled import PiiMatcher
from switchyard.filters.paths import copied_container_at

# Top-level keys that are the message's own, never personal data to scan or change.
MESSAGE_FIELDS = frozenset(
    {
        "type", "event", "name", "category", "messageId", "userId", "anonymousId", "groupId", "previousId",
        "timestamp", "originalTimestamp", "sentAt", "receivedAt", "projectId", "receivedRegion",
        "integrations", "channel", "version", "replay",
    }
)  # fmt: skip
# Within `context`, what SDKs fill in about themselves.
CONTEXT_FIELDS = frozenset({"library", "protocols", "consent", "integrations"})
_SHORTEST, _LONGEST = 5, 254  # a string outside these lengths is no value any matcher takes
_MAX_DEPTH = 6
_MAX_ITEMS = 50  # list items looked at per list
_NOTHING: frozenset[str] = frozenset()


def normalized_key(key: str) -> str:
    return re.sub(r"[\s_.\-]", "", key).lower()


def _luhn(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def _iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _ssn(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_CARD = r"[3-6][0-9]{12,18}|[3-6][0-9]{3}(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?"  # IIN 3-6, 13-19 digits
_IP = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+"
BUILT_IN: tuple[PiiMatcher, ...] = (
    PiiMatcher("email", ("email", "emailaddress", "mail"), r"[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}"),
    PiiMatcher("phone", ("phone", "phonenumber", "mobile", "mobilephone", "telephone", "tel"), r"\+[1-9][0-9]{6,14}"),
    PiiMatcher("credit_card", ("creditcard", "creditcardnumber", "cardnumber", "ccnumber", "pan"), _CARD),
    PiiMatcher("iban", ("iban",), r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"),
    PiiMatcher("ip_address", ("ip", "ipaddress"), _IP),
    PiiMatcher("ssn", ("ssn", "socialsecuritynumber"), r"[0-9]{3}-[0-9]{2}-[0-9]{4}"),
    PiiMatcher("street_address", ("address", "street", "streetaddress", "addressline1", "addressline2"), None),
)
BUILT_IN_NAMES = frozenset(matcher.name for matcher in BUILT_IN)
_CHECKS: dict[str, Callable[[str], bool]] = {"credit_card": _luhn, "iban": _iban, "ip_address": _ip, "ssn": _ssn}


@dataclass(frozen=True, slots=True)
class Found:
    path: tuple[str, ...]  # keys from the message down to the field
    kind: str  # the matcher's name

    @property
    def field(self) -> str:
        return ".".join(self.path)


class PiiScanner:
    """The built-in matchers and the workspace's own, compiled once."""

    _KEYS_KEPT = 10_000  # key names remembered with their class (None: no class); events reuse few

    def __init__(self, custom: Sequence[PiiMatcher] = ()) -> None:
        matchers = (*BUILT_IN, *custom)
        self._by_key = {normalized_key(key): m.name for m in matchers for key in m.keys}
        self._key_kinds: dict[str, str | None] = {}
        # The built-in patterns are ours: one alternation. The workspace's are compiled one by one,
        # so their flags and groups cannot break each other (or ours).
        self._builtin_names = [m.name for m in BUILT_IN if m.pattern]
        self._builtin = re.compile("|".join(f"(?P<g{i}>{m.pattern})" for i, m in enumerate(BUILT_IN) if m.pattern))
        self._each = [(m.name, re.compile(m.pattern)) for m in matchers if m.pattern]
        self._custom = self._each[len(self._builtin_names) :]

    def kind_of_value(self, value: str) -> str | None:
        if not _SHORTEST <= len(value) <= _LONGEST:
            return None
        text = value.strip()
        match = self._builtin.fullmatch(text)
        if match is not None:
            kind = self._builtin_names[int(match.lastgroup[1:])]  # type: ignore[index]
            check = _CHECKS.get(kind)
            if check is None or check(match.group()):
                return kind
            return self._first_of(self._each, text, after=kind)  # its check failed: maybe another's
        return self._first_of(self._custom, text)

    @staticmethod
    def _first_of(matchers: list[tuple[str, re.Pattern[str]]], text: str, after: str | None = None) -> str | None:
        """The first matcher (after the one named `after`) whose pattern and check take the text."""
        skipping = after is not None
        for name, pattern in matchers:
            if skipping:
                skipping = name != after
                continue
            check = _CHECKS.get(name)
            if pattern.fullmatch(text) is not None and (check is None or check(text)):
                return name
        return None

    def kind_of_key(self, key: str) -> str | None:
        try:
            return self._key_kinds[key]
        except KeyError:
            kind = self._by_key.get(normalized_key(key))
            if len(self._key_kinds) < self._KEYS_KEPT:
                self._key_kinds[key] = kind
            return kind

    def find(self, message: dict[str, Any]) -> list[Found]:
        """Every field of the message that holds personal data, with its class (by key first)."""
        found: list[Found] = []
        for key, value in message.items():
            if key not in MESSAGE_FIELDS:
                self._walk(value, (key,), CONTEXT_FIELDS if key == "context" else frozenset(), 1, found)
        return found

    def _walk(self, value: Any, path: tuple[str, ...], skip: frozenset[str], depth: int, found: list[Found]) -> None:
        if isinstance(value, str):
            kind = self.kind_of_value(value)
            if kind is not None:
                found.append(Found(path, kind))
        elif isinstance(value, dict):
            if depth > _MAX_DEPTH:
                return
            for key, child in value.items():
                if key in skip or not isinstance(key, str):
                    continue
                kind = self.kind_of_key(key)
                if kind is not None and isinstance(child, str | int | float) and child != "":
                    found.append(Found((*path, key), kind))
                elif isinstance(child, str | dict | list):
                    self._walk(child, (*path, key), _NOTHING, depth + 1, found)
        elif isinstance(value, list):
            for index, item in enumerate(value[:_MAX_ITEMS]):
                if isinstance(item, str | dict | list):
                    self._walk(item, (*path, str(index)), _NOTHING, depth + 1, found)


def hashed(value: Any) -> str:
    """SHA-256 (hex) of the value as text, trimmed and lower-cased so the same email hashes alike."""
    return hashlib.sha256(str(value).strip().lower().encode()).hexdigest()


def redacted(
    message: dict[str, Any], found: Sequence[Found], block: frozenset[str], hash_: frozenset[str]
) -> dict[str, Any]:
    """A copy of the message with the fields of a `block` class removed and those of a `hash`
    class replaced by their SHA-256; the message given is not changed (the objects and lists on
    the way to a changed field are copies)."""
    changed = dict(message)
    for item in found:
        if item.kind not in block and item.kind not in hash_:
            continue
        *parents, key = item.path
        target = copied_container_at(changed, parents)
        if target is None:
            continue
        if item.kind in block:
            _remove(target, key)
        else:
            _replace(target, key, hashed)
    return changed


def _remove(container: dict[str, Any] | list[Any], key: str) -> None:
    if isinstance(container, dict):
        container.pop(key, None)
    elif key.isdigit() and int(key) < len(container):
        container[int(key)] = None  # keeps the other items' positions


def _replace(container: dict[str, Any] | list[Any], key: str, change: Callable[[Any], Any]) -> None:
    if isinstance(container, dict):
        if key in container:
            container[key] = change(container[key])
    elif key.isdigit() and int(key) < len(container):
        container[int(key)] = change(container[int(key)])


class Scanners:
    """The scanner for the workspace's matchers, rebuilt when they change."""

    def __init__(self) -> None:
        self._matchers: tuple[PiiMatcher, ...] | None = None
        self._scanner = PiiScanner()

    def get(self, matchers: tuple[PiiMatcher, ...]) -> PiiScanner:
        if matchers != self._matchers:
            self._scanner, self._matchers = PiiScanner(matchers), matchers
        return self._scanner
