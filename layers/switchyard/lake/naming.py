"""Table and column names as Segment's warehouses make them.

Sources (Segment's public docs, segmentio/segment-docs):

- connections/storage/warehouses/schema.md: collection and property names go from CamelCase to
  snake_case with the go-snakecase package; nested objects are flattened with `_`
  (`context.app.version` -> `context_app_version`); one table per track event.
- connections/storage/warehouses/redshift-faq.md: reserved words get a `_` prefixed (`_open`).
- connections/storage/data-lakes/comparison.md: a table name beginning with a digit gets a `_`
  prefixed (`_101_account_update`).

`snakecase` ports go-snakecase (segmentio/go-snakecase, snake.go at 5e4a23e) exactly, its tests
included: runs of letters and digits are kept, everything else separates words, an upper-case
letter starts a word (`productID` -> `product_id`, `Base64Encode` -> `base64_encode`), leading and
repeated separators go (`__meta` -> `meta`).

Where the docs are silent, the choices here are:

- Unicode: go-snakecase works on ASCII bytes and drops the rest (`Café` -> `caf`). Accented Latin
  letters are folded to their base letter first (`Café Visité` -> `cafe_visite`, `Größe` ->
  `grosse`), which is what a reader of the table expects. A name with nothing left (`購入`, `!!!`)
  becomes `unnamed_` and 8 hex digits of its hash: stable across batches, distinct per name.
- Reserved words: Amazon Redshift's (docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html),
  the list Segment's FAQ points to, for tables and columns alike; event tables also may not take
  the standard tables' names (`tracks`, `identifies`, ...): an event called `Identifies` is
  `_identifies`.
- Length: at most 127 characters (Redshift's identifier limit, under Glue's 255). A longer name
  keeps its first 118 characters and ends in `_` and 8 hex digits of the full name's hash, so two
  long names that share a prefix stay two tables or columns.

Names that normalise alike are the same name, as in Segment: `Order Completed` and
`order_completed` fill one table (`event_text` keeps what was sent), `productId` and `product_id`
one column. How rows settle two such keys in one message is in `rows`.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata

MAX_NAME_LENGTH = 127
_HASH_LENGTH = 8

# The tables the lake makes besides the event tables, and `accounts`, Segment's (beta) one for groups.
STANDARD_TABLES = frozenset({"tracks", "pages", "screens", "identifies", "groups", "aliases", "users", "accounts"})

SQL_RESERVED_WORDS = frozenset(
    """
    aes128 aes256 all allowoverwrite analyse analyze and any array as asc authorization az64 backup
    between binary blanksasnull both bytedict bzip2 case cast check collate column constraint create
    credentials cross current_date current_time current_timestamp current_user current_user_id default
    deferrable deflate defrag delta delta32k desc disable distinct do else emptyasnull enable encode
    encrypt encryption end except explicit false for foreign freeze from full globaldict256
    globaldict64k grant group gzip having identity ignore ilike in initially inner intersect interval
    into is isnull join leading left like limit localtime localtimestamp lun luns lzo lzop minus
    mostly16 mostly32 mostly8 natural new not notnull null nulls off offline offset oid old on only
    open or order outer overlaps parallel partition percent permissions pivot placing primary raw
    readratio recover references rejectlog resort respect restore right select session_user similar
    snapshot some sysdate system table tag tdes text255 text32k then timestamp to top trailing true
    truncatecolumns union unique unnest unpivot user using verbose wallet when where with without
    """.split()  # noqa: SIM905 - laid out like the AWS page, for checking against it
)

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_LOWER_OR_DIGIT = _LOWER | _DIGITS
_UPPER_OR_DIGIT = _UPPER | _DIGITS
_ALPHANUMERIC = _LOWER | _UPPER | _DIGITS
# Letters NFKD does not decompose to ASCII.
_LATIN_LETTERS = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D"}
    | {"ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i"}
)


def snakecase(text: str) -> str:
    """go-snakecase's Snakecase, on ASCII: anything else separates words like punctuation does."""
    size = len(text)
    index = 0
    has_lower = has_underscore = lower_since_underscore = False
    # Already snake_case up to here: lower case, digits, and inner underscores followed by either.
    while index < size:
        char = text[index]
        if char in _LOWER:
            has_lower = True
            if has_underscore:
                lower_since_underscore = True
        elif char in _DIGITS:
            pass
        elif char == "_" and 0 < index < size - 1 and text[index + 1] in _LOWER_OR_DIGIT:
            has_underscore = True
            lower_since_underscore = False
        else:
            break
        index += 1
    if index == size:
        return text
    out = list(text[:index])
    if text[index] in _UPPER and (not has_lower or (has_underscore and not lower_since_underscore)):
        # Upper case right after digits (`2FA`) or a digit-led word (`a_1B`) carries on that word.
        index = _word(text, index, out)
    while index < size:
        if text[index] not in _ALPHANUMERIC:
            index += 1
            continue
        if out:
            out.append("_")
        index = _word(text, index, out)
    return "".join(out)


def _word(text: str, index: int, out: list[str]) -> int:
    """Appends the word at `index` (upper case and digits, then lower case and digits), lower-cased;
    returns where it ends."""
    size = len(text)
    while index < size and text[index] in _UPPER_OR_DIGIT:
        out.append(text[index].lower())
        index += 1
    while index < size and text[index] in _LOWER_OR_DIGIT:
        out.append(text[index])
        index += 1
    return index


@functools.lru_cache(maxsize=16384)
def table_name(event: str) -> str:
    """The table of a track event: `Order Completed` -> `order_completed`, `Tracks` -> `_tracks`."""
    name = _identifier(event)
    return "_" + name if name in STANDARD_TABLES else name


@functools.lru_cache(maxsize=65536)
def column_name(path: str) -> str:
    """The column of a key or of a dotted path into nested objects: `context.page.url` ->
    `context_page_url`, `productId` -> `product_id`, `open` -> `_open`."""
    return _identifier(path)


def _identifier(raw: str) -> str:
    name = snakecase(raw if raw.isascii() else _fold_to_ascii(raw))
    if not name:
        return "unnamed_" + _short_hash(raw)
    if name[0] in _DIGITS or name in SQL_RESERVED_WORDS:
        name = "_" + name
    if len(name) > MAX_NAME_LENGTH:
        keep = MAX_NAME_LENGTH - _HASH_LENGTH - 1
        name = name[:keep].rstrip("_") + "_" + _short_hash(name)
    return name


def _fold_to_ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LATIN_LETTERS))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_HASH_LENGTH // 2).hexdigest()
