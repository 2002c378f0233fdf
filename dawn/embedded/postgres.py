"""The embedded PostgreSQL: the server binaries from the pgserver wheel, run as our child.

pgserver's own helper starts the server through pg_ctl, which detaches it: a crashed parent leaves
it running. We use the wheel's initdb and postgres binaries directly so the server is our child
and dies with us (see children.py). As root, the server runs as an unprivileged user; where its
files are then is server_files.py's business.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dawn.embedded import server_files
from dawn.embedded.children import as_user, spawn, stop
from dawn.embedded.ports import free_port, wait_for_port

log = logging.getLogger("dawn.embedded")

USER = "dawn"
DATABASE = "dawn"


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be found or started."""


def pg_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the pgserver package is not installed: pip install pgserver "
            "(or set DATABASE_URL to use an existing PostgreSQL)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise EmbeddedPostgresError(f"pgserver has no postgres binary at {path}")
    return path


def _initdb(bin_dir: Path, data_dir: Path, log_path: Path, user: str | None) -> None:
    argv = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", USER, "--auth=trust",
            "--encoding=UTF8", "--locale=C"]
    with open(log_path, "ab") as out:
        try:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, **as_user(user)).returncode
        except OSError as exc:
            raise EmbeddedPostgresError(f"cannot run initdb: {exc}") from exc
    if code != 0:
        raise EmbeddedPostgresError(f"initdb exited with code {code}; see {log_path}")


@dataclass
class EmbeddedPostgres:
    """A running PostgreSQL on a loopback port with trust auth for local connections."""

    port: int
    process: subprocess.Popen
    data_dir: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    def start(cls, run_dir: Path, port: int | None = None, timeout: float = 30) -> EmbeddedPostgres:
        log_path = run_dir / "logs" / "postgres.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        user = server_files.server_user()
        try:
            bin_dir = server_files.runnable_bin_dir(pg_bin_dir(), user)
            data_dir = server_files.data_dir(run_dir, user)
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"cannot start the embedded PostgreSQL: {exc}. Set DATABASE_URL to use an existing "
                "PostgreSQL, or install dawn and its run dir (DAWN_RUN_DIR) where other users can "
                "traverse"
            ) from exc
        sock_dir = data_dir.parent / "pgsock"
        if not (data_dir / "PG_VERSION").exists():
            _initdb(bin_dir, data_dir, log_path, user)
        port = port or free_port()
        sock_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sock_dir.resolve()}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]
        proc = spawn(argv, log_path, user=user)
        pg = cls(port=port, process=proc, data_dir=data_dir, log_path=log_path)
        try:  # whatever stops the start-up (a failed check, Ctrl-C) must not leave the server running
            if not wait_for_port(port, timeout, alive=lambda: proc.poll() is None):
                code = proc.poll()
                why = f"exited with code {code}" if code is not None else f"did not listen on {port}"
                raise EmbeddedPostgresError(f"postgres {why}; see {log_path}")
            pg._ensure_database(timeout)
        except BaseException:
            pg.stop()
            raise
        log.info("postgres ready at 127.0.0.1:%d in %.2fs", port, time.monotonic() - started)
        return pg

    def _ensure_database(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True
                ) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f"CREATE DATABASE {DATABASE}")
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise EmbeddedPostgresError(f"postgres not healthy: {exc}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, exit cleanly.
        import signal

        stop(self.process, "postgres", sig=signal.SIGINT, timeout=15)
