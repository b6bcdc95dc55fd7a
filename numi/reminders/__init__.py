"""The durable reminder engine (seed 001), renewal reminders and callbacks."""
