"""python -m numi.service: run the numi service (actions, API, console) on port 5055."""
import logging
import os

from numi.service.app import create_app
from numi.settings import Settings

if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("NUMI_LOG_LEVEL", "WARNING"))
    app = create_app(Settings.from_env())
    app.run(host=os.environ.get("NUMI_HOST", "127.0.0.1"), port=int(os.environ.get("NUMI_PORT", "5055")),
            access_log=False, workers=1, motd=False)
