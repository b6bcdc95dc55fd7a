"""The Rasa process of numi: Rasa's own command line, with numi's patches installed first.

    python -m numi.rasa_main run --model models/… --endpoints endpoints.yml …

takes the arguments of `rasa` (scripts/run.sh and numi/devstack.py start Rasa this way).
The patches (numi/rasa_patches/) are applied explicitly here, before Rasa reads
endpoints.yml and loads the model; nothing else applies them.
"""
from __future__ import annotations

import sys

from rasa.__main__ import main as rasa_main

from numi.rasa_patches.startup import install


def main() -> None:
    install()
    sys.argv[0] = "rasa"  # Rasa's usage and help name its own command
    rasa_main()


if __name__ == "__main__":
    main()
