"""Delivery: the queue between router and destinations, retries, dead letters, Event Delivery."""
