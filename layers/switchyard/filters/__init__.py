"""Data controls: the filter query language (FQL) and the filters built on it."""
