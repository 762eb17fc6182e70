"""Workspace alerts: CloudWatch alarms built from the workspace file's `alerts:` section, the volume
check that feeds the source-volume ones, and the Slack forwarder's message."""
