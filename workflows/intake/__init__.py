"""Signals in: alerts and reports stored, deduplicated, routed, grouped into incidents; tickets out and back."""
