"""`make cluster` / `make cluster-stop`: the scale-out topology on one machine.

    python -m numi.cluster start | stop | status | render

N Rasa replicas (NUMI_RASA_REPLICAS, 2) and M numi processes (NUMI_REPLICAS, 2; each one
serves the pages and API and, on its private listener, the custom actions) behind HAProxy
on NUMI_LB_URL (http://127.0.0.1:8080, 127.0.0.1 only):

* `/webhooks/…`, `/socket.io/…` and Rasa's HTTP API go to the Rasa replicas, pinned by a
  cookie (socket.io's polling transport needs every request of a session on one replica);
  the rest (`/`, `/chat/…`, `/api/…`, `/health`, static files) goes to the numi processes;
* a second, private frontend spreads Rasa's action calls over the numi action listeners;
* PostgreSQL holds numi's database and Rasa's tracker store (created when missing), Redis
  the lock store and the rate-limit counts, RabbitMQ Rasa's event broker
  (config/endpoints.cluster.yml when it exists, else endpoints.yml).

The configuration is the environment, with deploy/cluster.env as defaults; the processes are
the same programs as `make run` starts (`python -m numi.service`, `python -m numi.rasa_main
run`). `start` checks every engine first and names the one that is missing, waits until the
load balancer answers for numi and for Rasa, writes the PIDs to the run directory
(var/cluster/) and returns, the processes running in the background; `stop` stops them all,
and is idempotent. What it says is in deploy/messages.yml; HAProxy's configuration is
rendered from deploy/haproxy.cfg.j2.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import jinja2
import psycopg2  # type: ignore[import-untyped]
import redis
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from numi.cli import main as cli_main
from numi.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DEFAULTS = DEPLOY / "cluster.env"
MESSAGES = DEPLOY / "messages.yml"
TEMPLATE = "haproxy.cfg.j2"


class ClusterError(RuntimeError):
    """The cluster cannot start (message for the operator, in French)."""


def say(key: str, **values: Any) -> str:
    messages: Dict[str, str] = yaml.safe_load(MESSAGES.read_text(encoding="utf-8"))
    return messages[key].format(**values).rstrip("\n")


# -- configuration ---------------------------------------------------------------------------

def read_env_file(path: Path) -> Dict[str, str]:
    """KEY=VALUE lines; blank lines and full-line comments are skipped."""
    values: Dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def environment(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """deploy/cluster.env's defaults, overridden by the environment."""
    merged = read_env_file(DEFAULTS)
    merged.update(os.environ if env is None else env)
    return merged


@dataclass
class Member:
    name: str
    kind: str  # "rasa" | "numi" | "haproxy"
    port: int
    action_port: Optional[int] = None


@dataclass
class Topology:
    run_dir: Path
    lb_url: str
    lb_port: int
    actions_lb_port: int
    rasa: List[Member]
    numi: List[Member]
    sticky_cookie: str
    endpoints: str
    start_timeout: float
    env: Dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def stats_socket(self) -> Path:
        return self.run_dir / "haproxy.sock"

    def summary(self) -> Dict[str, Any]:
        return {"lb_url": self.lb_url, "lb_port": self.lb_port, "actions_lb_port": self.actions_lb_port,
                "rasa": [asdict(m) for m in self.rasa], "numi": [asdict(m) for m in self.numi],
                "stats_socket": str(self.stats_socket), "sticky_cookie": self.sticky_cookie,
                "endpoints": self.endpoints}


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        value = int(env[name])
    except (KeyError, ValueError):
        raise ClusterError(say("bad_setting", name=name, value=env.get(name, ""),
                               detail=say("detail_integer"))) from None
    if value < 1:
        raise ClusterError(say("bad_setting", name=name, value=value, detail=say("detail_at_least_one")))
    return value


def _ports(env: Mapping[str, str], listed: str, first: str, count: int) -> List[int]:
    if env.get(listed):
        ports = [int(p) for p in env[listed].split(",") if p.strip()]
        if len(ports) != count:
            raise ClusterError(say("bad_setting", name=listed, value=env[listed],
                                   detail=say("detail_ports", count=count)))
        return ports
    return [_int(env, first) + i for i in range(count)]


def topology(env: Optional[Mapping[str, str]] = None) -> Topology:
    env = environment(env)
    lb_url = env["NUMI_LB_URL"].rstrip("/")
    split = urlsplit(lb_url)
    if split.scheme != "http" or not split.port:
        raise ClusterError(say("bad_setting", name="NUMI_LB_URL", value=lb_url,
                               detail=say("detail_lb_url")))
    n_rasa, n_numi = _int(env, "NUMI_RASA_REPLICAS"), _int(env, "NUMI_REPLICAS")
    rasa_ports = _ports(env, "NUMI_CLUSTER_RASA_PORTS", "NUMI_CLUSTER_RASA_PORT", n_rasa)
    numi_ports = _ports(env, "NUMI_CLUSTER_NUMI_PORTS", "NUMI_CLUSTER_NUMI_PORT", n_numi)
    action_ports = _ports(env, "NUMI_CLUSTER_ACTION_PORTS", "NUMI_CLUSTER_ACTION_PORT", n_numi)
    run_dir = Path(env["NUMI_CLUSTER_DIR"])
    run_dir = run_dir if run_dir.is_absolute() else ROOT / run_dir
    cluster_endpoints = ROOT / "config" / "endpoints.cluster.yml"
    return Topology(
        run_dir=run_dir, lb_url=lb_url, lb_port=split.port, actions_lb_port=_int(env, "NUMI_CLUSTER_ACTIONS_LB_PORT"),
        rasa=[Member(f"rasa{i + 1}", "rasa", port) for i, port in enumerate(rasa_ports)],
        numi=[Member(f"numi{i + 1}", "numi", port, action) for i, (port, action) in
              enumerate(zip(numi_ports, action_ports))],
        sticky_cookie=env.get("NUMI_CLUSTER_STICKY_COOKIE", "NUMI_RASA"),
        endpoints=str(cluster_endpoints.relative_to(ROOT)) if cluster_endpoints.exists() else "endpoints.yml",
        start_timeout=float(env.get("NUMI_CLUSTER_START_TIMEOUT", "300")), env=env)


def render_haproxy(topo: Topology) -> str:
    loader = jinja2.Environment(loader=jinja2.FileSystemLoader(str(DEPLOY)), undefined=jinja2.StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return loader.get_template(TEMPLATE).render(
        run_dir=topo.run_dir, stats_socket=topo.stats_socket, lb_port=topo.lb_port,
        actions_lb_port=topo.actions_lb_port, sticky_cookie=topo.sticky_cookie,
        rasa=topo.rasa, numi=topo.numi)


# -- what must be there first ----------------------------------------------------------------

def haproxy_binary() -> Optional[str]:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
                                            if os.access(p, os.X_OK)), None)


def _host_port(url: str, default_port: int) -> Tuple[str, int]:
    split = urlsplit(url)
    return split.hostname or "127.0.0.1", split.port or default_port


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_postgres(url: str) -> Optional[str]:
    host, port = _host_port(url, 5432)
    try:
        with psycopg2.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                              connect_timeout=3) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.close()
    except Exception as exc:  # psycopg2.OperationalError and the like: the message names the cause
        return say("service_down", service="PostgreSQL", host=host, port=port, detail=_first_line(exc))
    return None


def check_redis(url: str) -> Optional[str]:
    host, port = _host_port(url, 6379)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        return say("service_down", service="Redis", host=host, port=port, detail=_first_line(exc))
    return None


def check_rabbitmq(url: str) -> Optional[str]:
    """The AMQP 0-9-1 protocol header, answered by a Connection.Start method frame."""
    host, port = _host_port(url, 5672)
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            frame = s.recv(7)
        if len(frame) < 7 or frame[0] != 1:
            raise ConnectionError(say("detail_unexpected_answer", frame=repr(frame[:8])))
    except Exception as exc:
        return say("service_down", service="RabbitMQ", host=host, port=port, detail=_first_line(exc))
    return None


def missing_services(env: Mapping[str, str]) -> List[str]:
    """One message per missing piece: HAProxy, PostgreSQL, Redis, RabbitMQ."""
    problems = [] if haproxy_binary() else [say("haproxy_missing")]
    pg_urls = {env["NUMI_CLUSTER_PG_ADMIN_URL"]}
    problems += [p for p in {check_postgres(u) for u in pg_urls} if p]
    problems += [p for p in (check_redis(env["NUMI_REDIS_URL"]), check_rabbitmq(env["NUMI_AMQP_URL"])) if p]
    return problems


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def busy_ports(topo: Topology) -> List[str]:
    wanted = [(topo.lb_port, say("role_lb")), (topo.actions_lb_port, say("role_actions_lb"))]
    wanted += [(m.port, m.name) for m in topo.rasa] + [(m.port, m.name) for m in topo.numi]
    wanted += [(m.action_port, f"{m.name}, actions") for m in topo.numi if m.action_port]
    return [say("port_busy", port=port, role=role) for port, role in wanted if not _port_free(port)]


def model(env: Mapping[str, str]) -> str:
    given = env.get("NUMI_MODEL")
    if given and Path(given).exists():
        return given
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    if models:
        return str(models[0])
    out = subprocess.run([str(ROOT / "scripts" / "train.sh")], cwd=ROOT, capture_output=True, text=True)
    trained = out.stdout.strip().splitlines()[-1:] if out.returncode == 0 else []
    if not trained or not Path(trained[0]).exists():
        raise ClusterError(say("model_missing"))
    return trained[0]


def _secret(env: Dict[str, str], name: str, file: str, prefix: str = "") -> None:
    """$NAME if set, else the one `make run` keeps in var/ (made once, mode 600)."""
    if env.get(name):
        return
    path = ROOT / "var" / file
    if not path.exists() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            path.write_text(prefix + secrets.token_urlsafe(32 if not prefix else 18) + "\n")
        finally:
            os.umask(old)
    env[name] = path.read_text().strip()


def ensure_databases(env: Mapping[str, str]) -> List[str]:
    """CREATE DATABASE for numi's and the tracker store's databases when missing."""
    created = []
    admin = make_url(env["NUMI_CLUSTER_PG_ADMIN_URL"]).set(drivername="postgresql")
    conn = psycopg2.connect(admin.render_as_string(hide_password=False), connect_timeout=3)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for var in ("NUMI_DATABASE_URL", "NUMI_TRACKER_URL"):
                url = make_url(env[var])
                if url.get_backend_name() != "postgresql" or not url.database:
                    continue
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{url.database}"')
                    created.append(url.database)
    finally:
        conn.close()
    return created


def prepare_schemas(env: Mapping[str, str], log: Path) -> None:
    """numi's migrations and Rasa's tracker table, once, before the processes race for them."""
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "numi.cluster", "schemas"], cwd=ROOT, env=dict(env),
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise ClusterError(say("start_failed", what=say("what_schemas", log=log.name), logs=_tail(log)))


# -- processes -------------------------------------------------------------------------------

def _create_schemas() -> None:
    """Rasa's tracker table, then numi's migrations (`numi.cli db upgrade`), on this process's
    NUMI_TRACKER_URL and NUMI_DATABASE_URL."""
    from rasa.core.tracker_store import SQLTrackerStore  # noqa: PLC0415 - Rasa, in that subprocess only

    settings = Settings.from_env()
    SQLTrackerStore.Base.metadata.create_all(sa.create_engine(settings.tracker_url))
    cli_main(["db", "upgrade"])


def _start_time(pid: int) -> Optional[str]:
    """The process's start time (clock ticks since boot), None when gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _group_members(pgid: int) -> List[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _pid_dir(topo: Topology) -> Path:
    return topo.run_dir / "pids"


def recorded(topo: Topology) -> Dict[str, Tuple[int, str]]:
    """name -> (pid, start time) of the processes that `start` wrote down."""
    out = {}
    for path in sorted(_pid_dir(topo).glob("*.pid")):
        try:
            pid, started = path.read_text().split()
            out[path.stem] = (int(pid), started)
        except ValueError:
            continue
    return out


def alive(pid: int, started: str) -> bool:
    """The very process that was started (not another that got its number since)."""
    return _start_time(pid) == started


def _spawn(topo: Topology, name: str, argv: List[str], env: Dict[str, str]) -> "subprocess.Popen[bytes]":
    log = open(topo.run_dir / "logs" / f"{name}.log", "w")
    # a session of its own: it outlives `make cluster`, and stopping it stops its children
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    started = None
    for _ in range(50):
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.01)
    (_pid_dir(topo) / f"{name}.pid").write_text(f"{proc.pid} {started or '?'}\n")
    return proc


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return 0


def haproxy_stats(topo: Topology) -> List[Dict[str, str]]:
    """HAProxy's `show stat` on the stats socket, one dict per frontend, backend and server."""
    lines = _haproxy_command(topo, "show stat").strip().splitlines()
    header = lines[0].lstrip("# ").split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:] if line]


def _servers_up(topo: Topology) -> bool:
    try:
        rows = haproxy_stats(topo)
    except OSError:
        return False
    servers = [r for r in rows if r.get("svname") not in ("FRONTEND", "BACKEND")]
    expected = len(topo.rasa) + 2 * len(topo.numi)
    return len(servers) == expected and all(r.get("status", "").startswith("UP") for r in servers)


def process_env(topo: Topology) -> Dict[str, str]:
    env = dict(topo.env)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for name, file, prefix in (("NUMI_SECRET", "secret", ""), ("NUMI_RASA_TOKEN", "rasa-token", ""),
                               ("NUMI_ACTION_TOKEN", "action-token", ""),
                               ("NUMI_ADMIN_TOKEN", "admin-token", "numi_admin_")):
        _secret(env, name, file, prefix)
    split = urlsplit(topo.lb_url)
    env["NUMI_RASA_URL"] = topo.lb_url  # numi reaches Rasa's HTTP API through the load balancer
    env["NUMI_ACTION_URL"] = f"http://127.0.0.1:{topo.actions_lb_port}/webhook"
    env.setdefault("NUMI_RASA_PUBLIC_URL", topo.lb_url)  # where the pages' widget opens socket.io
    env.setdefault("NUMI_WEB_ORIGINS", ",".join(dict.fromkeys(
        [topo.lb_url, f"http://127.0.0.1:{split.port}", f"http://localhost:{split.port}"])))
    return env


def _role(env: Mapping[str, str], switch: str, mode_var: str, index: int) -> str:
    """"1" on the first numi process (or on all, NUMI_CLUSTER_…=all), unless switched off."""
    if env.get(switch, "1").strip().lower() in ("0", "false", "no"):
        return "0"
    return "1" if index == 0 or env.get(mode_var, "first") == "all" else "0"


def start(env: Optional[Mapping[str, str]] = None, out: Any = None) -> Topology:
    out = out or sys.stdout
    began = time.monotonic()
    topo = topology(env)
    topo.run_dir.mkdir(parents=True, exist_ok=True)
    if any(alive(*r) for r in recorded(topo).values()):
        raise ClusterError(say("already_running", run_dir=topo.run_dir))
    problems = missing_services(topo.env) + busy_ports(topo)
    if problems:
        raise ClusterError("\n".join(problems))
    model_file = model(topo.env)
    for kind in ("pids", "logs"):
        (topo.run_dir / kind).mkdir(exist_ok=True)
    for stale in _pid_dir(topo).glob("*.pid"):
        stale.unlink()
    env_all = process_env(topo)
    for name in ensure_databases(env_all):
        print(say("database_created", name=name), file=out)
    print(say("starting", rasa=len(topo.rasa), numi=len(topo.numi), lb=topo.lb_url), file=out, flush=True)
    prepare_schemas(env_all, topo.run_dir / "logs" / "schemas.log")

    cfg = topo.run_dir / "haproxy.cfg"
    old = os.umask(0o077)
    try:
        cfg.write_text(render_haproxy(topo))
    finally:
        os.umask(old)
    haproxy = haproxy_binary() or "haproxy"
    checked = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise ClusterError(say("haproxy_invalid", path=cfg, detail=(checked.stdout + checked.stderr).strip()))
    (topo.run_dir / "cluster.json").write_text(json.dumps(topo.summary(), indent=2) + "\n")

    procs: Dict[str, "subprocess.Popen[bytes]"] = {}
    try:
        for i, member in enumerate(topo.numi):
            env = dict(env_all, NUMI_HOST="127.0.0.1", NUMI_PORT=str(member.port), NUMI_ACTION_HOST="127.0.0.1",
                       NUMI_ACTION_PORT=str(member.action_port),
                       NUMI_SCHEDULER=_role(env_all, "NUMI_SCHEDULER", "NUMI_CLUSTER_SCHEDULER", i),
                       NUMI_ALERTS=_role(env_all, "NUMI_ALERTS", "NUMI_CLUSTER_ALERTS", i))
            procs[member.name] = _spawn(topo, member.name, [sys.executable, "-m", "numi.service"], env)
        for member in topo.rasa:
            procs[member.name] = _spawn(topo, member.name, [
                sys.executable, "-m", "numi.rasa_main", "run", "--model", model_file, "--endpoints", topo.endpoints,
                "--credentials", "credentials.yml", "--enable-api", "--auth-token", env_all["NUMI_RASA_TOKEN"],
                "--interface", "127.0.0.1", "--port", str(member.port)], env_all)
        procs["haproxy"] = _spawn(topo, "haproxy", [haproxy, "-db", "-f", str(cfg)], env_all)
        _wait_ready(topo, procs)
    except BaseException:  # a failed start leaves nothing running
        with open(os.devnull, "w") as quiet:
            stop(topo.env, out=quiet)
        raise
    print(say("ready", seconds=round(time.monotonic() - began), rasa=len(topo.rasa), numi=len(topo.numi),
              lb=topo.lb_url, run_dir=topo.run_dir), file=out, flush=True)
    return topo


def _wait_ready(topo: Topology, procs: Mapping[str, "subprocess.Popen[bytes]"]) -> None:
    deadline = time.monotonic() + topo.start_timeout
    direct = {m.name: f"http://127.0.0.1:{m.port}/" for m in topo.rasa}
    direct.update({m.name: f"http://127.0.0.1:{m.port}/health" for m in topo.numi})
    through_lb = {"/health": f"{topo.lb_url}/health", "/webhooks/rest/": f"{topo.lb_url}/webhooks/rest/"}
    pending = dict(direct, **through_lb)
    while True:
        for name, proc in procs.items():
            code = proc.poll()
            if code is not None:
                log = topo.run_dir / "logs" / f"{name}.log"
                raise ClusterError(say("start_failed", what=say("process_died", name=name, code=code),
                                       logs=_tail(log)))
        for name, url in list(pending.items()):
            if _get(url) == 200:
                del pending[name]
        if not pending and _servers_up(topo):
            return
        if time.monotonic() > deadline:
            what = ", ".join(pending) or "HAProxy (serveurs UP)"
            logs = "\n".join(f"--- {n}\n{_tail(topo.run_dir / 'logs' / f'{n}.log', 8)}" for n in
                             (list(pending) if pending else ["haproxy"]) if n in procs)
            raise ClusterError(say("start_failed", what=say("timeout", what=what, seconds=int(topo.start_timeout)),
                                   logs=logs))
        time.sleep(1)


# The public frontend is closed first (no new requests), then Rasa stops (its turns in flight
# still reach the actions through the private frontend), then numi, then HAProxy.
STOP_ORDER = ("rasa", "numi", "haproxy")


def _haproxy_command(topo: Topology, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect(str(topo.stats_socket))
        s.sendall(command.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode()


def stop(env: Optional[Mapping[str, str]] = None, out: Any = None, grace: float = 30.0) -> int:
    """Stop every process `start` wrote down (and its children); how many were running."""
    out = out or sys.stdout
    began = time.monotonic()
    topo = topology(env)
    records = recorded(topo)
    running = {name: pid for name, (pid, started) in records.items() if alive(pid, started)}
    if not running:
        for path in _pid_dir(topo).glob("*.pid"):
            path.unlink()
        print(say("nothing_to_stop", run_dir=topo.run_dir), file=out)
        return 0
    print(say("stopping", count=len(running)), file=out, flush=True)
    if "haproxy" in running:
        try:
            _haproxy_command(topo, "disable frontend public")
        except OSError:
            pass
    for kind in STOP_ORDER:
        group = {n: p for n, p in running.items() if n.startswith(kind)}
        for pid in group.values():
            _signal_group(pid, signal.SIGTERM)
        _wait_gone(group.values(), time.monotonic() + grace)
    for pid in running.values():  # whatever did not stop, and children left behind
        if _group_members(pid):
            _signal_group(pid, signal.SIGKILL)
    _wait_gone(running.values(), time.monotonic() + 5)
    for name in records:
        (_pid_dir(topo) / f"{name}.pid").unlink(missing_ok=True)
    print(say("stopped", seconds=round(time.monotonic() - began, 1)), file=out)
    return len(running)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pgids: Any, deadline: float) -> None:
    pgids = list(pgids)
    while time.monotonic() < deadline and any(_group_members(p) for p in pgids):
        time.sleep(0.2)


def status(env: Optional[Mapping[str, str]] = None, out: Any = None) -> int:
    out = out or sys.stdout
    topo = topology(env)
    records = recorded(topo)
    for name, (pid, started) in records.items():
        print(f"{name:10} {pid:>8} {'up' if alive(pid, started) else 'down'}", file=out)
    return 0 if records and all(alive(*r) for r in records.values()) else 1


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "start"
    try:
        if command == "start":
            start()
        elif command == "stop":
            stop()
        elif command == "status":
            return status()
        elif command == "schemas":  # run by `start`, in a process of its own (it imports Rasa)
            _create_schemas()
        elif command == "render":
            print(render_haproxy(topology()), end="")
        else:
            print("usage: python -m numi.cluster start|stop|status|render", file=sys.stderr)
            return 2
    except ClusterError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
