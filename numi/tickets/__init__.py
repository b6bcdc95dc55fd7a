"""Tickets: lifecycle, store operations and lookups."""
