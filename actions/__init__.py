"""numi's Rasa custom actions, split by feature. Thin wrappers over numi.*."""
from actions import fallback, handoff, playbooks, session  # noqa: F401  (registers the actions)
