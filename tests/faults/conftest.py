"""Fault tests: real servers, real databases, faults injected by a TCP proxy or SIGKILL."""
import os

import pytest

from numi.devstack import Stack
from tests.faults.proxy import Proxy


def texts(reply) -> str:
    return " ".join(m.get("text") or "" for m in (reply or []) if isinstance(m, dict))


@pytest.fixture(scope="module")
def action_proxy_stack(tmp_path_factory):
    """Rasa reaches the action server through a proxy; actions time out after 3 s."""
    stack = Stack(tmp_path_factory.mktemp("faulty"), extra_env={"NUMI_ACTION_TIMEOUT": "3"})
    proxy = Proxy(stack.action_port)
    stack.env["NUMI_ACTION_URL"] = f"http://127.0.0.1:{proxy.port}/webhook"
    stack.start()
    yield stack, proxy
    stack.stop()
    proxy.stop()


@pytest.fixture(scope="module")
def postgres_proxy_stack(tmp_path_factory):
    """Rasa's tracker store on PostgreSQL, through a proxy that can cut it."""
    if not os.environ.get("NUMI_TEST_POSTGRES_URL"):
        pytest.skip("needs PostgreSQL (NUMI_TEST_POSTGRES_URL, set by .ci/run when a server answers)")
    from tests.conftest import _drop_postgres_database, _postgres_database

    url = _postgres_database()
    proxy = Proxy(5432)
    through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    stack = Stack(tmp_path_factory.mktemp("pgfaulty"), extra_env={"NUMI_TRACKER_URL": through})
    stack.direct_tracker_url = url
    stack.start()
    yield stack, proxy
    stack.stop()
    proxy.stop()
    _drop_postgres_database(url)
