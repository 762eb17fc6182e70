"""The router: deduplicate, archive and fan out what the events stream carries."""
