"""Usage per source: API calls, events and bytes per day, and monthly tracked users (MTUs)."""

# The usage items' partition keys in the delivery table: `usage#<source>` (usage/store.py).
USAGE_PK_PREFIX = "usage#"
# The sort key suffix of a source, hour and shard's sketch item (`<YYYY-MM-DDTHH>#<shard>#people`):
# within the month's and the day's key ranges, apart from its counters item (`<YYYY-MM-DDTHH>#<shard>`).
USAGE_SKETCH_SUFFIX = "#people"
