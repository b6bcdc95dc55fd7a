"""python -m numi.service: run the numi service: public pages, chat and staff API on
NUMI_HOST:NUMI_PORT (127.0.0.1:5055), custom actions on NUMI_ACTION_HOST:NUMI_ACTION_PORT
(127.0.0.1:5056). Outside local mode it refuses to start without its secrets."""
import logging
import os
import sys

from numi.service.app import create_app
from numi.settings import ConfigurationError, Settings, check_secrets

if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("NUMI_LOG_LEVEL", "WARNING"))
    try:
        check_secrets()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    app = create_app(Settings.from_env())
    app.run(host=os.environ.get("NUMI_HOST", "127.0.0.1"), port=int(os.environ.get("NUMI_PORT", "5055")),
            access_log=False, workers=1, motd=False)
