"""`make run-cluster`: the whole service as a city would run it, on this one machine.

HAProxy in front on the usual ports (5005 Rasa, 8000 API and console, 8080 voice, 9092
AudioSocket; 5055 the action servers, for Rasa), two of each process behind it on their own
loopback ports, PostgreSQL for the application data and Rasa's conversations, Redis for
Rasa's conversation locks and the gateways' shared call state, one worker; supervisord
starts them all and starts again any that dies. Files: cluster/haproxy.cfg,
cluster/supervisord.conf, cluster/endpoints.yml; logs in $CLUSTER_DIR/logs/.

`python -m tools.cluster [--prepare-only]`. Everything is set from the environment
(CLUSTER_* below and the services' own settings, which win when given):
CLUSTER_HOST (127.0.0.1) where the balancer listens; CLUSTER_PORT_OFFSET (0, a multiple of
10) added to every port, so a test cluster runs beside a real one; CLUSTER_DATABASE
(helpline) and CLUSTER_TRACKER_DATABASE (helpline_rasa) on CLUSTER_PG_URL; CLUSTER_REDIS_URL.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {"RASA_PUBLIC_PORT": 5005, "ACTIONS_PUBLIC_PORT": 5055, "API_PUBLIC_PORT": 8000,
          "VOICE_PUBLIC_PORT": 8080, "AUDIOSOCKET_PUBLIC_PORT": 9092}
# Instance n of each kind listens on <base>n (supervisord's process_num): 5101, 5102, …
INSTANCE_BASES = {"RASA": 510, "ACTIONS": 515, "API": 800, "VOICE": 808, "AUDIOSOCKET": 919}
INSTANCES = 2


def _get(env: dict, name: str, default: str) -> str:
    return env.get(name) or default


def cluster_environment(base: dict[str, str]) -> dict[str, str]:
    """The environment every process of the cluster starts with."""
    env = dict(base)
    offset = int(_get(env, "CLUSTER_PORT_OFFSET", "0"))
    if offset % 10:
        raise SystemExit("CLUSTER_PORT_OFFSET must be a multiple of 10")
    ports = {name: port + offset for name, port in PUBLIC.items()}
    for kind, prefix in INSTANCE_BASES.items():
        base_number = prefix + offset // 10
        ports[f"{kind}_PORT_BASE"] = base_number
        for n in range(1, INSTANCES + 1):
            ports[f"{kind}{n}_PORT"] = int(f"{base_number}{n}")
    env.update({name: str(value) for name, value in ports.items()})
    env.setdefault("CLUSTER_HOST", "127.0.0.1")
    env["CLUSTER_DIR"] = str(Path(_get(env, "CLUSTER_DIR", str(ROOT / "var" / "cluster"))).resolve())
    env["CLUSTER_PYTHON"] = sys.executable

    pg = urlsplit(_get(env, "CLUSTER_PG_URL", "postgresql://postgres@127.0.0.1:5432"))
    database = _get(env, "CLUSTER_DATABASE", "helpline")
    env.setdefault("DATABASE_URL", f"postgresql://{pg.netloc}/{database}")
    env.update({"TRACKER_DB_HOST": pg.hostname or "127.0.0.1", "TRACKER_DB_PORT": str(pg.port or 5432),
                "TRACKER_DB_USER": pg.username or "postgres",
                "TRACKER_DB_NAME": _get(env, "CLUSTER_TRACKER_DATABASE", "helpline_rasa")})
    redis = urlsplit(_get(env, "CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/1"))
    env.update({"LOCK_REDIS_HOST": redis.hostname or "127.0.0.1", "LOCK_REDIS_PORT": str(redis.port or 6379),
                "LOCK_REDIS_DB": (redis.path or "/1").strip("/") or "1"})
    env.setdefault("VOICE_REDIS_URL", redis.geturl())

    local = "http://127.0.0.1"
    env.setdefault("ACTION_SERVER_URL", f"{local}:{ports['ACTIONS_PUBLIC_PORT']}/webhook")
    env.setdefault("PROXY_SERVICE_URL", f"{local}:{ports['API_PUBLIC_PORT']}")
    env.setdefault("RASA_URL", f"{local}:{ports['RASA_PUBLIC_PORT']}")
    env.setdefault("VOICE_PUBLIC_URL", f"http://localhost:{ports['VOICE_PUBLIC_PORT']}")
    env.setdefault("TRUSTED_PROXIES", "127.0.0.1")          # the balancer's X-Forwarded-For
    # A conversation's lock outlives a killed Rasa instance this long (Rasa's default is 60 s):
    # longer than any turn takes (RASA_TIMEOUT_SECONDS), short enough that the caller's next
    # turn on the other instance need not wait for it.
    env.setdefault("TICKET_LOCK_LIFETIME", "10")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # The gateways share this machine's cores: each takes its share of what one would take
    # (voice/admission.py). On machines of their own, leave it to the default.
    env.setdefault("VOICE_MAX_CALLS", str(max(1, 8 * (os.cpu_count() or 1) // INSTANCES)))
    return env


def _create_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", future=True)
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def prepare(env: dict[str, str]) -> None:
    """Databases made and migrated, log folder ready; fails with a clear message if PostgreSQL
    or Redis cannot be had."""
    for script in ("tools/ensure-postgres.sh", "tools/ensure-redis.sh"):
        if subprocess.run(["bash", str(ROOT / script)]).returncode:
            raise SystemExit(f"the cluster needs what {script} could not start")
    admin = f"{env['DATABASE_URL'].rsplit('/', 1)[0]}/postgres"
    _create_database(admin, env["DATABASE_URL"].rsplit("/", 1)[1])
    _create_database(admin, env["TRACKER_DB_NAME"])
    subprocess.run([sys.executable, "-m", "proxy_service.migrate"], env=env, cwd=ROOT, check=True)
    (Path(env["CLUSTER_DIR"]) / "logs").mkdir(parents=True, exist_ok=True)


def instance_health_urls(env: dict[str, str]) -> list[str]:
    """Every instance's own health URL, and the balancer's for Rasa and the API."""
    urls = [f"http://127.0.0.1:{env[f'RASA{n}_PORT']}/" for n in range(1, INSTANCES + 1)]
    for kind in ("ACTIONS", "API", "VOICE"):
        urls += [f"http://127.0.0.1:{env[f'{kind}{n}_PORT']}/health" for n in range(1, INSTANCES + 1)]
    return urls + [f"http://127.0.0.1:{env['API_PUBLIC_PORT']}/health", f"http://127.0.0.1:{env['RASA_PUBLIC_PORT']}/"]


def drop_databases(env: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT",
                          future=True)
    with admin.connect() as connection:
        for name in (env["DATABASE_URL"].rsplit("/", 1)[1], env["TRACKER_DB_NAME"]):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def running_cluster(settings: dict[str, str], *, start_timeout: float = 300) -> Iterator[dict[str, str]]:
    """A whole cluster beside anything else on this machine (tests, benchmarks): `settings`
    give at least CLUSTER_PORT_OFFSET, CLUSTER_DIR and fresh database names, which are dropped
    afterwards. Yields the cluster's environment once every instance answers its health check;
    RuntimeError (with the log's end) if it does not within `start_timeout`."""
    import httpx

    given = {**os.environ, **settings}
    for name in ("DATABASE_URL", "PROXY_SERVICE_URL", "RASA_URL", "VOICE_PUBLIC_URL", "VOICE_REDIS_URL",
                 "ACTION_SERVER_URL"):
        if name not in settings:
            given.pop(name, None)     # the cluster's own, never the caller's
    env = cluster_environment(given)
    taken = [env[name] for name in PUBLIC if not _free(int(env[name]))]
    if taken:
        raise RuntimeError(f"ports {', '.join(taken)} are taken: is another cluster running there?")
    Path(env["CLUSTER_DIR"]).mkdir(parents=True, exist_ok=True)
    launcher_log = Path(env["CLUSTER_DIR"]) / "launcher.log"
    with open(launcher_log, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "tools.cluster"], cwd=ROOT, env=given, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline, waiting = time.monotonic() + start_timeout, instance_health_urls(env)
        while waiting:
            if process.poll() is not None:
                raise RuntimeError("the cluster stopped while starting:\n" + launcher_log.read_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"not up after {start_timeout:.0f} s: {waiting}")
            waiting = [url for url in waiting if not _answers(httpx, url)]
            time.sleep(0 if not waiting else 1)
        time.sleep(3)          # the balancer's own checks (rise 2 at 1 s) see every instance up
        yield env
    finally:
        process.send_signal(signal.SIGTERM)       # supervisord stops every program, then itself
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        drop_databases(env)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _answers(httpx, url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare-only", action="store_true", help="make the databases, then stop")
    args = parser.parse_args()
    env = cluster_environment(dict(os.environ))
    prepare(env)
    if args.prepare_only:
        return 0
    print(f"cluster: balancer on {env['CLUSTER_HOST']} ports {', '.join(env[name] for name in PUBLIC)}; "
          f"logs in {env['CLUSTER_DIR']}/logs/", flush=True)
    os.chdir(ROOT)
    os.execvpe("supervisord", ["supervisord", "-n", "-c", str(ROOT / "cluster" / "supervisord.conf")], env)


if __name__ == "__main__":
    sys.exit(main())
