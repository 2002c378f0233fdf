"""The embedded PostgreSQL as root: started wherever pip installed it and wherever the run dir is,
without opening anyone's private directories, and a one-line reason where it cannot start.

As root the server runs as an unprivileged user, which cannot traverse a mode-0700 directory: a
clone in ``mktemp -d``, a virtual environment in root's home. These tests build that situation
with a copy of the wheel's server tree in a fresh 0700 directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dawn import cli
from dawn.embedded import postgres as postgres_module
from dawn.embedded import server_files
from dawn.embedded.postgres import EmbeddedPostgres, EmbeddedPostgresError, pg_bin_dir

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A fresh directory of mode 0700, as ``mktemp -d`` makes: the server user cannot traverse it."""
    path = Path(tempfile.mkdtemp(prefix="dawn-private-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared_roots(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Stand-ins for the shared cache and data roots, removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="dawn-shared-"))
    path.chmod(0o755)
    monkeypatch.setattr(server_files, "CACHE_ROOT", path / "cache")
    monkeypatch.setattr(server_files, "DATA_ROOT", path / "data")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def hidden_install(private_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bin dir of a copy of the installed server tree inside a 0700 directory, in the wheel's
    layout, made the one ``EmbeddedPostgres`` starts."""
    package = pg_bin_dir().parent.parent
    site = private_dir / "site-packages"
    for name in ("bin", "lib", "share"):
        shutil.copytree(package / "pginstall" / name, site / "pgserver" / "pginstall" / name,
                        symlinks=True)
    if (package.parent / "pgserver.libs").is_dir():
        shutil.copytree(package.parent / "pgserver.libs", site / "pgserver.libs", symlinks=True)
    bin_dir = site / "pgserver" / "pginstall" / "bin"
    monkeypatch.setattr(postgres_module, "pg_bin_dir", lambda: bin_dir)
    return bin_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _query(pg: EmbeddedPostgres, sql: str) -> list[tuple]:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


@as_root
def test_postgres_starts_from_an_install_its_server_user_cannot_reach(
    hidden_install: Path, shared_roots: Path, private_dir: Path, fresh_run_dir: Path
) -> None:
    pg = EmbeddedPostgres.start(fresh_run_dir)
    try:
        assert _query(pg, "SELECT 1") == [(1,)]
        running = Path(f"/proc/{pg.process.pid}/exe").resolve()
        assert running.is_relative_to(shared_roots / "cache")
        status = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pg.process.pid}/status").read_text().splitlines())
        assert status["Groups"].split() == []  # none of root's groups either
        assert "0" not in status["Gid"].split()
    finally:
        pg.stop()
    assert _mode(private_dir) == 0o700
    [copy] = (shared_roots / "cache").iterdir()
    assert _mode(copy) == 0o755
    # a second start uses the same copy
    user = server_files.server_user()
    assert server_files.runnable_bin_dir(hidden_install, user) == copy / "pgserver" / "pginstall" / "bin"
    assert list((shared_roots / "cache").iterdir()) == [copy]


@as_root
def test_processes_racing_to_copy_the_server_both_get_one_whole_copy(
    hidden_install: Path, shared_roots: Path
) -> None:
    user = server_files.server_user()
    results: list[Path] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        barrier.wait()
        results.append(server_files.runnable_bin_dir(hidden_install, user))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert [p.name for p in (shared_roots / "cache").iterdir()] == [results[0].parents[2].name]


@as_root
def test_a_run_dir_the_server_user_cannot_traverse_keeps_its_data_elsewhere(
    shared_roots: Path, private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = private_dir / "run"
    pg = EmbeddedPostgres.start(run_dir)
    try:
        _query(pg, "CREATE TABLE kept (n int)")
    finally:
        pg.stop()
    link = run_dir / "pgdata"
    assert link.is_symlink() and pg.data_dir == link.resolve()
    entry = pg.data_dir.parent
    assert entry.parent == shared_roots / "data"
    assert _mode(private_dir) == 0o700  # not opened to anyone
    assert _mode(pg.data_dir) == 0o700

    again = EmbeddedPostgres.start(run_dir)  # found again through the link
    try:
        assert _query(again, "SELECT count(*) FROM kept") == [(0,)]
    finally:
        again.stop()
    assert again.data_dir == pg.data_dir

    # the run dir deleted, its data goes at the next start that keeps data elsewhere
    shutil.rmtree(run_dir)
    monkeypatch.setattr(server_files, "ORPHAN_AGE_S", 0.0)
    other = private_dir / "other"
    server_files.data_dir(other, server_files.server_user())
    assert not entry.exists()
    assert [p.name for p in (shared_roots / "data").iterdir()] == [(other / "pgdata").resolve().parent.name]


@as_root
def test_a_run_dir_the_server_user_can_traverse_keeps_its_data_in_place(
    shared_roots: Path, fresh_run_dir: Path
) -> None:
    pg = EmbeddedPostgres.start(fresh_run_dir)
    pg.stop()
    assert pg.data_dir == fresh_run_dir / "pgdata"
    assert not pg.data_dir.is_symlink()
    # (the binaries may still come from the cache: this checkout may itself sit in a private dir)
    assert not (shared_roots / "data").exists()


@as_root
def test_where_not_even_a_copy_can_run_the_error_says_why_and_what_to_do(
    hidden_install: Path, private_dir: Path, monkeypatch: pytest.MonkeyPatch, fresh_run_dir: Path
) -> None:
    monkeypatch.setattr(server_files, "CACHE_ROOT", private_dir / "cache")  # as unreachable
    with pytest.raises(EmbeddedPostgresError, match="can run neither") as raised:
        EmbeddedPostgres.start(fresh_run_dir)
    message = str(raised.value)
    assert "DATABASE_URL" in message and "\n" not in message


def test_dawn_up_reports_an_embedded_postgres_error_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_run_dir: Path
) -> None:
    def refuse(_run_dir: Path) -> EmbeddedPostgres:
        raise EmbeddedPostgresError("cannot start the embedded PostgreSQL: no. Set DATABASE_URL")

    monkeypatch.setattr("dawn.embedded.stack.EmbeddedPostgres.start", refuse)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # no broker is started
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DAWN_RUN_DIR", str(fresh_run_dir))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = cli.main(["up"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    err = capsys.readouterr().err
    assert code == 1
    assert err == "dawn up: cannot start the embedded PostgreSQL: no. Set DATABASE_URL\n"
