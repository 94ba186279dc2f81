"""Jobs in PostgreSQL, through a psycopg 3 connection pool that fails fast and heals itself.

- The pool opens without waiting, so the service starts (and answers /health) while
  PostgreSQL is down; connections are made with connect_timeout=2 and checked on checkout,
  so a restarted server's dead connections are replaced instead of failing requests.
- A give-up window (`reconnect_timeout`) of a few seconds stops psycopg_pool's exponential
  reconnection backoff from growing to minutes during a long outage: after giving up, the
  next request grows the pool again right away, so service resumes within about a second
  of PostgreSQL coming back.
- Every operation has a hard deadline. It runs as its own task; on timeout the caller gets
  `DatabaseError` at once while psycopg cancels the query in the background (its
  cancellation can itself take seconds on a cut network).
- The `jobs` table is created IF NOT EXISTS on every new connection (under an advisory
  lock), so a wiped and recreated database works again without a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

T = TypeVar("T")

GETCONN_TIMEOUT = 2.0
OP_TIMEOUT = 3.0
_SCHEMA_LOCK = 0x7E57_6E4E  # advisory lock id for the schema creation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id         text PRIMARY KEY,
    language   text NOT NULL,
    source_sha text NOT NULL,
    tests      text NOT NULL,
    provider   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class DatabaseError(Exception):
    """PostgreSQL could not serve the operation; the message is the one-line reason."""


@dataclass(frozen=True)
class Job:
    id: str
    language: str
    source_sha: str
    tests: str
    provider: str
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "language": self.language,
            "source_sha": self.source_sha,
            "tests": self.tests,
            "provider": self.provider,
            "created_at": self.created_at.isoformat(),
        }


def _conninfo(url: str) -> str:
    return psycopg.conninfo.make_conninfo(
        url,
        connect_timeout=2,
        application_name="testgen",
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=2,
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # libpq: 'connection failed: connection to server at "h", port p failed: Connection
    # refused Is the server running...': keep the cause, drop the hint.
    if "failed:" in text:
        text = text.rsplit("failed:", 1)[1].strip()
        text = text.split(" Is the server running", 1)[0]
    return text or type(exc).__name__


class JobStore:
    def __init__(self, url: str) -> None:
        self.last_connect_error = ""
        store = self

        class _Connection(AsyncConnection[Any]):
            """Remembers why the last connection attempt failed (the pool only says
            "couldn't get a connection after 2.00 sec")."""

            @classmethod
            async def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
                try:
                    conn = await super().connect(conninfo, **kwargs)
                except Exception as exc:
                    store.last_connect_error = _reason(exc)
                    raise
                store.last_connect_error = ""
                return conn

        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            _conninfo(url),
            connection_class=_Connection,
            min_size=1,
            max_size=10,
            open=False,
            timeout=GETCONN_TIMEOUT,
            reconnect_timeout=3.0,
            max_idle=60.0,
            configure=self._configure,
            check=AsyncConnectionPool.check_connection,
            name="testgen",
        )
        self._background: set[asyncio.Task[Any]] = set()

    @staticmethod
    async def _configure(conn: AsyncConnection[Any]) -> None:
        async with conn.transaction():
            cur = await conn.execute("SELECT to_regclass('public.jobs') IS NOT NULL")
            row = await cur.fetchone()
            if not (row and row[0]):
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                await conn.execute(_SCHEMA)

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.pool.close(timeout=1.0)

    async def _run(self, op: Callable[[AsyncConnection[Any]], Awaitable[T]], timeout: float) -> T:
        getconn_timeout = min(GETCONN_TIMEOUT, timeout)

        async def with_conn() -> T:
            async with self.pool.connection(timeout=getconn_timeout) as conn:
                return await op(conn)

        task = asyncio.ensure_future(with_conn())
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            # Let psycopg cancel (and discard the connection) without holding the request.
            self._background.add(task)
            task.add_done_callback(self._reap)
            task.cancel()
            raise DatabaseError(f"no answer within {timeout:.1f}s") from None
        except PoolTimeout:
            cause = self.last_connect_error or "no connection available"
            raise DatabaseError(f"{cause} (no connection within {getconn_timeout:.1f}s)") from None
        except psycopg.Error as exc:
            raise DatabaseError(_reason(exc)) from None
        except OSError as exc:
            raise DatabaseError(_reason(exc)) from None

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it

    async def insert(self, job_id: str, language: str, source_sha: str, tests: str,
                     provider: str) -> None:
        """Insert and commit the job; returns only once the commit succeeded."""

        async def op(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO jobs (id, language, source_sha, tests, provider)"
                " VALUES (%s, %s, %s, %s, %s)",
                (job_id, language, source_sha, tests, provider),
            )
            await conn.commit()

        await self._run(op, OP_TIMEOUT)

    async def get(self, job_id: str) -> Job | None:
        async def op(conn: AsyncConnection[Any]) -> Job | None:
            cur = await conn.execute(
                "SELECT id, language, source_sha, tests, provider, created_at"
                " FROM jobs WHERE id = %s",
                (job_id,),
            )
            row = await cur.fetchone()
            await conn.rollback()
            return Job(*row) if row else None

        return await self._run(op, OP_TIMEOUT)

    async def ping(self, timeout: float) -> None:
        async def op(conn: AsyncConnection[Any]) -> None:
            await conn.execute("SELECT 1")
            await conn.rollback()

        await self._run(op, timeout)
