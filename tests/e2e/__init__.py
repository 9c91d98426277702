"""End-to-end tests: through the real HTTP server, signed vendor requests and real processes."""
