"""Workspace configuration: the YAML file (source of truth), its stored form, and cached lookups."""
