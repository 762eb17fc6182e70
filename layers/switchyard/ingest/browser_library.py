"""The browser library, @segment/analytics-next's standalone build, served where Segment's snippet loads it.

A site switches from Segment by changing the snippet's host: its script tag asks for
`<base>/analytics.js/v1/<writeKey>/analytics.min.js` (the *loader*), and the library takes the rest
from the same base (its "CDN": the part of its own URL before `/analytics.js/v1/`): its code-split
chunks from `<base>/analytics-next/bundles/<name>.bundle.<hash>.js` and the settings document from
`<base>/v1/projects/<writeKey>/settings`, whose `apiHost` sends the events to this API. The base is
the API's root (HTTP API, load balancer), or `<root>/v1` behind the firewall (a REST API has nothing
outside its `v1` stage), where the settings document is therefore also at `/v1/v1/projects/...`.

What is served, from the package's `dist/umd` folder (pinned in package.json, shipped beside the
ingest handler as LIBRARY_DIR_NAME):

- The loader: `standalone.js` after one line that sets `analytics._cdn` from the script's own URL
  unless the page set it. The library finds its base by itself only in an `https://` URL and falls
  back to Segment's CDN otherwise, which would send a page on a local stack (`make run`, plain
  http) to Segment for its settings. The same bytes for every write key (the snippet hands the key
  over), served only for a key of this region: Segment's CDN answers 404 to keys it does not know.
  Its name carries no version, so browsers and CDNs keep it LOADER_CACHE_CONTROL, then revalidate
  with its ETag (a bodiless 304).
- The chunks and their source maps: names carry a content hash, so they are kept for a year.
- `analytics.min.js.map`: `standalone.js.map` shifted by the loader's added line.

Anything else is a 404 `{"code", "message"}`. Each answer is gzip-compressed when the browser
accepts it (the package's own `.gz` files; the loader is compressed once per environment): the
loader is 112 KB, 31 KB compressed. Files are read on first use, never at import (ingest's cold
start is user-facing), and kept for the environment's life.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from switchyard.errors import NotFound

# Where the handler's asset holds the package's `dist/umd` (functions/ingest/analytics-next is a link to
# it in the repository, node_modules/@segment/analytics-next/dist/umd).
LIBRARY_DIR_NAME = "analytics-next"
# The paths Segment's snippet and library ask for, relative to the base (see above).
LOADER_PATH = ("analytics.js", "v1", "{writeKey}", "analytics.min.js")
BUNDLES_PATH = ("analytics-next", "bundles")
LOADER_MAP_NAME = "analytics.min.js.map"

STANDALONE = "standalone.js"
CHUNK_SUFFIXES = (".js", ".js.map")
NOT_SHIPPED = ("index.js",)  # the npm package's UMD entry: the standalone build never loads it

LOADER_CACHE_CONTROL = "public, max-age=300"  # five minutes, as the settings document
VERSIONED_CACHE_CONTROL = "public, max-age=31536000, immutable"
JAVASCRIPT = "text/javascript; charset=utf-8"
SOURCE_MAP = "application/json; charset=utf-8"

# Sets the library's base from the script's own URL, whatever its scheme, before the library looks
# for it; `data-global-segment-analytics-key` names the global when the snippet renamed it.
LOADER_PRELUDE = (
    "!function(){var s=document.currentScript,k=s&&s.getAttribute('data-global-segment-analytics-key')"
    "||'analytics',a=window[k],m=s&&/^(.*)\\/analytics\\.js\\/v1\\//.exec(s.src);"
    "if(a&&m&&!a._cdn)a._cdn=m[1]}();\n"
)
SOURCE_MAP_COMMENT = "//# sourceMappingURL="


def unknown_file() -> NotFound:
    return NotFound("unknown_file", "No such file of the browser library.")


def shipped_names(directory: Path) -> list[str]:
    """The files of the package's `dist/umd` that ship with the ingest function (and their `.gz`)."""
    return sorted(
        path.name
        for path in Path(directory).iterdir()
        if path.is_file()
        and path.name.removesuffix(".gz").endswith(CHUNK_SUFFIXES)
        and not path.name.startswith(NOT_SHIPPED)
    )


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    content_type: str
    cache_control: str
    etag: str

    @classmethod
    def of(cls, body: bytes, gzipped: bytes | None, content_type: str, cache_control: str) -> StaticFile:
        return cls(body, gzipped, content_type, cache_control, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@dataclass(frozen=True, slots=True)
class StaticAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


class BrowserLibrary:
    """The library's files in `directory`, read on first use and kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._chunks: dict[str, StaticFile] = {}  # at most the shipped names

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(name for name in shipped_names(self.directory) if not name.endswith(".gz"))

    @functools.cached_property
    def loader(self) -> StaticFile:
        text = (self.directory / STANDALONE).read_text(encoding="utf-8")
        code, comment, _ = text.rpartition(SOURCE_MAP_COMMENT)
        if not comment:
            code = text
        # The map's URL relative to the loader's: `<base>/analytics.js/v1/<key>/` is three folders down.
        body = f"{LOADER_PRELUDE}{code}{SOURCE_MAP_COMMENT}../../../{'/'.join(BUNDLES_PATH)}/{LOADER_MAP_NAME}\n"
        encoded = body.encode()
        return StaticFile.of(encoded, gzip.compress(encoded, 9, mtime=0), JAVASCRIPT, LOADER_CACHE_CONTROL)

    @functools.cached_property
    def _loader_map(self) -> StaticFile:
        source_map = orjson.loads((self.directory / f"{STANDALONE}.map").read_bytes())
        source_map["mappings"] = ";" + source_map["mappings"]  # every generated line one further down
        body = orjson.dumps(source_map)
        return StaticFile.of(body, gzip.compress(body, 6, mtime=0), SOURCE_MAP, LOADER_CACHE_CONTROL)

    def bundle_file(self, name: str) -> StaticFile:
        """A file of `<base>/analytics-next/bundles/`; NotFound for any other name."""
        if name == LOADER_MAP_NAME:
            return self._loader_map
        if name not in self._names or name == STANDALONE or name == f"{STANDALONE}.map":
            raise unknown_file()
        if name not in self._chunks:
            path = self.directory / name
            compressed = path.with_name(f"{name}.gz")
            self._chunks[name] = StaticFile.of(
                path.read_bytes(),
                compressed.read_bytes() if compressed.is_file() else None,
                SOURCE_MAP if name.endswith(".map") else JAVASCRIPT,
                VERSIONED_CACHE_CONTROL,
            )
        return self._chunks[name]


def answer(file: StaticFile, if_none_match: str | None, accept_encoding: str | None) -> StaticAnswer:
    """The file as an HTTP answer: 304 to a browser that has it, gzip to one that accepts it."""
    headers = {
        "Content-Type": file.content_type,
        "Cache-Control": file.cache_control,
        "ETag": file.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match and (if_none_match.strip() == "*" or file.etag in _tags(if_none_match)):
        return StaticAnswer(304, headers, b"")
    if file.gzipped is not None and accepts_gzip(accept_encoding):
        return StaticAnswer(200, {**headers, "Content-Encoding": "gzip"}, file.gzipped)
    return StaticAnswer(200, headers, file.body)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` allows gzip: named (or `*`) without `q=0`."""
    for coding in (accept_encoding or "").split(","):
        name, _, parameters = coding.partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = parameters.strip().lower().removeprefix("q=")
        try:
            return not parameters.strip() or float(quality) > 0
        except ValueError:
            return False
    return False


def _tags(if_none_match: str) -> set[str]:
    """The entity tags of `If-None-Match`, weak ones compared as strong (RFC 9110's weak comparison)."""
    return {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
