"""Replay: read a slice of the archive and send it again to chosen destinations."""
