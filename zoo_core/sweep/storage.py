"""Where a sweep's study lives: an Optuna storage.

* default: ``sqlite:///<sweep folder>/study.db`` (one machine, any number of workers);
* any SQLAlchemy URL Optuna accepts (``postgresql://user@host/db``, ``mysql://...``) for
  several machines (the driver, e.g. ``psycopg2``, must be installed);
* ``journal:///abs/path/study.log`` (or ``journal://relative/path``): Optuna's
  :class:`~optuna.storages.JournalStorage` over a file, for machines that share only a
  file system (NFS). It takes a lock file beside the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core.sweep import SweepError

JOURNAL = "journal://"
SQLITE_TIMEOUT_S = 60  # several workers on one SQLite file wait for its lock instead of failing


def default_url(folder: Path) -> str:
    return f"sqlite:///{folder.resolve() / 'study.db'}"


def open_storage(url: str) -> Any:
    """An Optuna storage object for ``url`` (see the module docstring)."""
    import optuna

    if url.startswith(JOURNAL):
        path = Path(url[len(JOURNAL):]).expanduser()
        if not str(path) or path.is_dir():
            raise SweepError(f"--storage {url}: name a journal file, e.g. "
                             "journal:///shared/sweeps/digits.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise SweepError(f"--storage {url!r} is not a storage URL; write e.g. "
                         "sqlite:///sweeps/study.db, postgresql://user@host/db or "
                         "journal:///shared/study.log")
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        db = url.split(":///", 1)[-1]
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except (ImportError, ModuleNotFoundError) as exc:
        raise SweepError(f"--storage {url}: the database driver is missing ({exc}). Install it "
                         "(e.g. pip install psycopg2-binary for PostgreSQL, pymysql for MySQL) "
                         "or use the default SQLite file.") from None
    except Exception as exc:  # SQLAlchemy's errors: a wrong URL, a server that is down
        if type(exc).__module__.startswith(("sqlalchemy", "optuna")) or isinstance(
                exc, ValueError):
            raise SweepError(f"--storage {url}: cannot open it: {exc}") from None
        raise


def url_for(given: str, folder: Path) -> str:
    """The storage URL a sweep folder uses: the one given with --storage, else its SQLite."""
    return given or default_url(folder)
