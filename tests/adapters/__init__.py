"""Adapter and storage tests: each adapter against a fake of its vendor on loopback or a real
database."""
