"""Crash points for the exactly-once tests: NUMI_CRASH_AT=<name> kills the process there."""
import os


def hit(name: str) -> None:
    if os.environ.get("NUMI_CRASH_AT") == name:
        os._exit(86)
