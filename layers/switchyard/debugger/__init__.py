"""The Source Debugger: the latest messages of each source, sampled under load.

The router's rate (`debugger_messages_per_second`, a stack option) comes in this variable, read by
switchyard.settings.RouterSettings; the stack and the local stack set it from the same default.
"""

ENV_DEBUGGER_MESSAGES_PER_SECOND = "DEBUGGER_MESSAGES_PER_SECOND"
# Per source and router instance (a shard's). 500 messages then span at least 100 s of a busy
# source, a `--follow` stays readable, and a busy source costs at most one S3 PUT per batch.
DEFAULT_DEBUGGER_MESSAGES_PER_SECOND = 5
MAX_DEBUGGER_MESSAGES_PER_SECOND = 100
# Where the debugger's objects are, in the archive bucket (debugger/store.py).
DEBUGGER_PREFIX = "_debugger/"
