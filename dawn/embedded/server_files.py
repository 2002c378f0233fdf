"""Where the embedded PostgreSQL's files are, when root has to run it as another user.

PostgreSQL refuses to run as root, so as root it runs as pgserver's unprivileged user, which must
reach two things: the server binaries inside the installed pgserver wheel, and its data directory
in the run dir. Either may sit under a directory that user cannot traverse: a clone in a
``mktemp -d`` directory, a virtual environment in root's mode-0700 home.

pgserver's own answer is to chmod g+rx,o+rx every parent of the data directory up to ``/``, which
silently opens a user's private directories to everyone. We widen nothing we did not create:

* The binaries: where the server user cannot run them, it runs a copy of the server tree (bin, lib,
  share and the wheel's vendored libraries, in the wheel's layout: the binaries find all of it
  relative to themselves) kept in ``CACHE_ROOT``, a directory only root can write to. A copy is
  keyed by the pgserver version and the identity of the installed binary, so a reinstall gets a
  fresh one; it is made in a temporary directory and renamed into place, so two processes racing
  to make it both end up with a whole copy. Copies of old installs stay until deleted by hand
  (safe whenever no embedded PostgreSQL is running): another environment may still run one.
* The data: where the server user cannot traverse the run dir, the data directory lives in a
  fresh root-owned entry under ``DATA_ROOT`` (data and socket directories inside it owned by the
  server user, mode 0700), and ``<run dir>/pgdata`` is a symlink to it. The symlink is how a later
  start finds the data again, and deleting the run dir still discards it as before: an entry whose
  run dir no longer links to it is removed at a later start, once it is old enough that it cannot
  be one another process is still setting up.

Where the server user can reach everything, nothing changes: the wheel's binaries, the data
directory in the run dir. A user that is not root runs the server itself and needs none of this.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from dawn.embedded.children import as_user

log = logging.getLogger("dawn.embedded")

#: Copies of the server tree, for a server user that cannot reach the installed one.
CACHE_ROOT = Path("/var/cache/dawn")
#: Data directories of run dirs the server user cannot traverse.
DATA_ROOT = Path("/var/lib/dawn")
#: An unclaimed data entry younger than this may be one another process is still setting up.
ORPHAN_AGE_S = 600.0

_SERVER_TREE = ("bin", "lib", "share")  # not include/: headers are for building extensions
_WHEEL_LIBS = "pgserver.libs"  # the wheel's vendored libpq, found at $ORIGIN/../../../pgserver.libs
_RUN_DIR_RECORD = "run-dir"


def server_user() -> str | None:
    """The user to run PostgreSQL as: pgserver's unprivileged user as root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    # pgserver's package import asks platformdirs for a runtime dir, which warns on every run as
    # root without XDG_RUNTIME_DIR; we use none of it, so the warning is only noise for the user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import ensure_user_exists

    return ensure_user_exists("pgserver").pw_name


def runnable_bin_dir(bin_dir: Path, user: str | None) -> Path:
    """``bin_dir``, or a copy of its server tree that ``user`` can run.

    Raises PermissionError when not even a copy can be run, OSError when none can be made.
    """
    if user is None or _can_run(bin_dir, user):
        return bin_dir
    copy = _cached_copy(bin_dir)
    if not _can_run(copy, user):
        raise PermissionError(f"PostgreSQL's server user {user!r} can run neither {bin_dir} nor {copy}")
    return copy


def data_dir(run_dir: Path, user: str | None) -> Path:
    """The real path of ``run_dir``'s PostgreSQL data directory, ready for ``user``.

    As root, the data directory and the socket directory beside it exist and belong to ``user``.
    """
    link = run_dir / "pgdata"
    if user is None:
        return link
    run_dir.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        target = link.resolve()
        if target.is_dir():
            return target
        link.unlink()  # its data is gone: start afresh, as after deleting an in-place pgdata
    if _can_reach(run_dir, user):
        return _own_dirs(run_dir, user)
    if link.exists():
        raise PermissionError(
            f"PostgreSQL's server user {user!r} cannot reach the data directory {link}; "
            "move it away to start afresh"
        )
    root = _root_only_dir(DATA_ROOT)
    _remove_orphans(root)
    entry = Path(tempfile.mkdtemp(prefix="pg-", dir=root))
    entry.chmod(0o711)  # the server user may pass through to its directories, not list the entry
    (entry / _RUN_DIR_RECORD).write_text(str(run_dir.resolve()))
    data = _own_dirs(entry, user)
    link.symlink_to(data)
    log.info("PostgreSQL data of %s kept in %s: its server user cannot traverse the run dir",
             run_dir, entry)
    return data


def _can_run(bin_dir: Path, user: str) -> bool:
    for name in ("postgres", "initdb"):  # initdb also loads the wheel's vendored libpq
        try:
            done = subprocess.run([str(bin_dir / name), "--version"], capture_output=True,
                                  timeout=30, **as_user(user))
        except (OSError, subprocess.TimeoutExpired):
            return False
        if done.returncode != 0:
            return False
    return True


def _can_reach(directory: Path, user: str) -> bool:
    """Whether ``user`` can traverse ``directory`` and every parent: asked of the kernel, which
    knows about groups, ACLs and security modules."""
    return subprocess.run(["test", "-x", str(directory)], timeout=30, **as_user(user)).returncode == 0


def _cached_copy(bin_dir: Path) -> Path:
    package = bin_dir.parent.parent
    entry = _root_only_dir(CACHE_ROOT) / _cache_key(bin_dir)
    if not entry.is_dir():
        log.info("copying PostgreSQL to %s: its server user cannot run it where it is installed", entry)
        parts = [(package / "pginstall" / name, Path("pgserver", "pginstall", name))
                 for name in _SERVER_TREE]
        parts.append((package.parent / _WHEEL_LIBS, Path(_WHEEL_LIBS)))
        _copy_atomically([(src, rel) for src, rel in parts if src.exists()], entry)
    return entry / "pgserver" / "pginstall" / "bin"


def _cache_key(bin_dir: Path) -> str:
    try:
        version = importlib.metadata.version("pgserver")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    binary = bin_dir / "postgres"
    st = binary.stat()
    identity = f"{binary.resolve()}\0{st.st_dev}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_size}"
    return f"pgserver-{version}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def _copy_atomically(parts: list[tuple[Path, Path]], entry: Path) -> None:
    """Copy each (source, relative destination) into ``entry``, which appears whole or not at all."""
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=entry.parent))
    try:
        for src, rel in parts:
            shutil.copytree(src, partial / rel, symlinks=True)
        _readable_by_all(partial)
        try:
            partial.rename(entry)
        except OSError:
            if not entry.is_dir():
                raise
            # another process made the same copy first: use theirs
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone already after a successful rename


def _readable_by_all(tree: Path) -> None:
    """Directories 0755, files 0644 or 0755: an install made under umask 077 is root's alone."""
    for dirpath, _dirs, files in os.walk(tree):
        os.chmod(dirpath, 0o755)  # noqa: S103 - the server user must reach every file
        for name in files:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)


def _root_only_dir(path: Path) -> Path:
    """``path``, made if missing, refused unless only root can write to it: what is in it is run by
    the server user and deleted by root, so nobody else may put anything there."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        pass
    else:
        path.chmod(0o755)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise PermissionError(f"{path} must be a directory that only root can write to")
    return path


def _own_dirs(parent: Path, user: str) -> Path:
    """``parent``/pgdata and ``parent``/pgsock, made if missing and given to ``user``."""
    entry = pwd.getpwnam(user)
    for name in ("pgdata", "pgsock"):
        (parent / name).mkdir(exist_ok=True)
        os.chown(parent / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    return parent / "pgdata"


def _remove_orphans(root: Path) -> None:
    """Remove every data entry whose run dir no longer links to it (the run dir was deleted)."""
    for entry in root.glob("pg-*"):
        try:
            if time.time() - entry.lstat().st_mtime < ORPHAN_AGE_S or _claimed(entry):
                continue
        except OSError:
            continue
        log.info("removing %s: the run dir it belonged to is gone", entry)
        shutil.rmtree(entry, ignore_errors=True)


def _claimed(entry: Path) -> bool:
    try:
        run_dir = Path((entry / _RUN_DIR_RECORD).read_text())
        return (run_dir / "pgdata").readlink() == entry / "pgdata"
    except OSError:
        return False
