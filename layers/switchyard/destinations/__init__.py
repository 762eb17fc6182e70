"""Destination types: one module each, declared by the adapter model in `base.py`."""
