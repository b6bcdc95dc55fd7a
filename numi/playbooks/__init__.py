"""Playbooks as data: one YAML file per scenario, walked by one generic engine."""
