"""Stream records as bytes: one message's JSON, deflated when the `stream_compression` option is on.

An on-demand stream bills each record in 1 KB units, and a browser event is 1.3-1.5 KB of JSON.
Deflated alone, one record shrinks by about half; with a preset dictionary of the text every Segment
message shares (field names, library and user agent strings, what ingest adds) it shrinks to a
quarter or a third, and faster, since much of it is then a few long matches.

A record is self-describing, so the option can be switched on or off at any time: a record starting
with `{` is JSON as ingest writes it without the option; anything else is a zlib stream whose header
names its dictionary by Adler-32 (RFC 1950's DICTID). A new dictionary is added to `_DICTIONARIES`
beside the old ones, never in their place: records keep their encoding for the stream's retention.
"""

from __future__ import annotations

import zlib

# Never change these bytes once shipped: records deflated with them stay on the stream for up to
# its retention (7 days) and decode only with exactly this dictionary. To improve on it, add a
# second dictionary and encode with that one. Deflate reaches the end of a dictionary with the
# shortest distance codes, so the text every message shares comes last.
_SEGMENT_DICTIONARY_V1 = (
    # Mobile and server libraries' contexts.
    b'"device":{"id":"","advertisingId":"","adTrackingEnabled":false,"manufacturer":"Apple","model":"iPhone15,2",'
    b'"name":"iPhone","type":"ios"},"os":{"name":"iOS","version":"17.5.1"},"app":{"name":"","version":"1.0.0",'
    b'"build":"1","namespace":"com."},"network":{"wifi":true,"cellular":false,"carrier":"","bluetooth":false},'
    b'"manufacturer":"samsung","model":"SM-S918B","type":"android"},"os":{"name":"Android","version":"14"},'
    b'"instanceId":"","library":{"name":"analytics-kotlin","version":"1.1"},"library":{"name":"analytics-swift",'
    b'"version":"1.5"},"library":{"name":"analytics-python","version":"2.3"},"library":{"name":"analytics-ruby",'
    b'"version":"2.4"},"library":{"name":"analytics-go","version":"3.3"},"library":{"name":"analytics-java",'
    b'"version":"3.5"},"library":{"name":"@segment/analytics-node","version":"2.1"}},"_metadata":{"nodeVersion":'
    b'"20.18.0","jsRuntime":"node"},'
    # Identify, group, page, screen and alias calls.
    b'{"type":"identify","traits":{"email":"@gmail.com","firstName":"","lastName":"","name":"","phone":"+1",'
    b'"username":"","createdAt":"","plan":"","title":"","avatar":"https://","website":"https://","industry":"",'
    b'"employees":,"company":{"id":"","name":""},"address":{"street":"","city":"","state":"","postalCode":"",'
    b'"country":"US"}},{"type":"group","groupId":"",{"type":"alias","previousId":"",{"type":"screen",'
    b'{"type":"page","name":"","category":"",'
    # Properties of Segment's e-commerce spec and the common events.
    b'"event":"Order Completed","event":"Checkout Started","event":"Product Added","event":"Signed Up",'
    b'"event":"Product Viewed","properties":{"order_id":"","checkout_id":"","total":,"subtotal":,"revenue":,'
    b'"shipping":,"tax":,"discount":,"coupon":"","currency":"USD","products":[{"product_id":"","sku":"",'
    b'"category":"","name":"","brand":"","variant":"","price":,"quantity":1,"position":1,"url":"https://",'
    b'"image_url":"https://"}],"value":,'
    # What analytics.js puts in a browser event's context.
    b'"consent":{"categoryPreferences":{}},"userAgentData":{"brands":[{"brand":"Not_A Brand","version":"8"},'
    b'{"brand":"Chromium","version":"120"},{"brand":"Google Chrome","version":"120"}],"mobile":true,'
    b'"platform":"Android"},"userAgent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) '
    b'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1","userAgent":'
    b'"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 '
    b'Safari/537.36","timezone":"Europe/London","timezone":"America/New_York","locale":"en-GB",'
    b'"campaign":{"source":"google","medium":"cpc","name":"","term":"","content":""},'
    b'"screen":{"width":1920,"height":1080,"density":2},'
    b'{"type":"track","event":"","properties":{},"context":{"library":{"name":"analytics.js",'
    b'"version":"next-1.70.0"},"page":{"path":"/","referrer":"https://www.google.com/",'
    b'"search":"?utm_source=google&utm_medium=cpc&utm_campaign=","title":"","url":"https://www.'
    b'?utm_source=google&utm_medium=cpc&utm_campaign="},"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X '
    b'10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","userAgentData":'
    b'{"brands":[{"brand":"Chromium","version":"131"},{"brand":"Google Chrome","version":"131"}],'
    b'"mobile":false,"platform":"macOS"},"locale":"en-US","timezone":"America/Los_Angeles",'
    # The envelope: what every message carries, ingest's additions last.
    b'"ip":""},"messageId":"ajs-next-","anonymousId":"","userId":null,"userId":"","timestamp":"20'
    b'.000Z","integrations":{},"_metadata":{"bundled":["Segment.io"],"unbundled":[],'
    b'"bundledIds":[]},"projectId":"","receivedRegion":"eu-west-1","receivedRegion":"us-west-2",'
    b'"receivedAt":"20","originalTimestamp":"20","sentAt":"20'
)
# Every dictionary a record on the stream may name, by its id.
_DICTIONARIES = {zlib.adler32(dictionary): dictionary for dictionary in (_SEGMENT_DICTIONARY_V1,)}
DICTIONARY_ID = zlib.adler32(_SEGMENT_DICTIONARY_V1)  # the one encode() writes with

# A 4 KB window holds the dictionary, and small hash tables suit 1-2 KB records: zlib's defaults
# (32 KB window, level 6) take 40% longer per record for records 8% smaller. Levels 1-3 take
# about the same time here; 2 writes records 5% smaller than 1.
_LEVEL, _WINDOW_BITS, _MEMORY_LEVEL = 2, 12, 4
# Primed once: copying it is cheaper than loading the dictionary into a new compressor per record.
_PRIMED = zlib.compressobj(
    _LEVEL, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, _DICTIONARIES[DICTIONARY_ID]
)
# No record ingest writes comes near this (stored messages are at most 36 KB); a crafted one that
# would inflate further is refused rather than held in memory.
_MAX_DECODED_BYTES = 1024 * 1024
_FDICT = 0x20  # the zlib header's flag for a preset dictionary


def encode(data: bytes) -> bytes:
    """One message's JSON, deflated with the current dictionary."""
    deflater = _PRIMED.copy()
    return deflater.compress(data) + deflater.flush()


def decode(data: bytes) -> bytes:
    """The JSON of a record, deflated or not; ValueError when it is neither."""
    if data[:1] == b"{":  # never a zlib stream's first byte, whose low 4 bits are always 8
        return data
    if len(data) < 6 or data[0] & 0x0F != zlib.DEFLATED or (data[0] << 8 | data[1]) % 31 or not data[1] & _FDICT:
        raise ValueError("neither JSON nor deflated with a preset dictionary")
    dictionary_id = int.from_bytes(data[2:6], "big")
    dictionary = _DICTIONARIES.get(dictionary_id)
    if dictionary is None:
        raise ValueError(f"deflated with an unknown dictionary (id {dictionary_id:#010x})")
    inflater = zlib.decompressobj(zlib.MAX_WBITS, zdict=dictionary)
    try:
        text = inflater.decompress(data, _MAX_DECODED_BYTES)
    except zlib.error as error:
        raise ValueError(f"corrupt deflated record: {error}") from None
    if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise ValueError("deflated record truncated, over 1 MiB inflated, or followed by other bytes")
    return text
