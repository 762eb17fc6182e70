"""Usage per source: API calls, events and bytes per day, and monthly tracked users (MTUs)."""

# The usage items' partition keys in the delivery table: `usage#<source>` (usage/store.py).
USAGE_PK_PREFIX = "usage#"
