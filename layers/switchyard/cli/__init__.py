"""The `switchyard` command line (local tooling; not shipped in the Lambda layer)."""
