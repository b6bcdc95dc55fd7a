"""The hotliner's in-call prompter: calls, their ticket, escalation and the call summary."""
