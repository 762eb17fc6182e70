"""Switchyard: a self-hosted, Segment-compatible customer data pipeline (domain package)."""
