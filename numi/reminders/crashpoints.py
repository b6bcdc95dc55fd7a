"""Crash points for the exactly-once tests: NUMI_CRASH_AT=<name> kills the process there,
NUMI_CRASH_AT=<name>#<n> at its n-th passage."""
import os

_passed: dict = {}


def hit(name: str) -> None:
    wanted = os.environ.get("NUMI_CRASH_AT")
    if not wanted:
        return
    if wanted == name:
        os._exit(86)
    if wanted.startswith(name + "#"):
        _passed[name] = _passed.get(name, 0) + 1
        if str(_passed[name]) == wanted.split("#", 1)[1]:
            os._exit(86)
