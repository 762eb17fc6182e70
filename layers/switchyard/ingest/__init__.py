"""The tracking API's domain: request bodies, authentication, message validation and enrichment."""
