"""The bridge server's kept workers: reused between calls, and gone after close()."""

from __future__ import annotations

import threading

from harness.bridge.server import _Workers


def _workers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("bridge-worker")]


def test_a_call_that_outlives_close_ends_its_worker() -> None:
    release, served = threading.Event(), threading.Event()

    def serve(conn: object) -> None:
        release.wait(10)
        served.set()

    workers = _Workers(serve)  # type: ignore[arg-type]
    workers.submit(object())  # type: ignore[arg-type]
    (worker,) = _workers_alive()
    workers.close()  # while the call is still being served
    release.set()
    worker.join(5)
    assert served.is_set() and not worker.is_alive()


def test_an_idle_worker_serves_the_next_call_and_ends_at_close() -> None:
    seen: list[tuple[object, str]] = []
    done = threading.Semaphore(0)

    def serve(conn: object) -> None:
        seen.append((conn, threading.current_thread().name))
        done.release()

    workers = _Workers(serve)  # type: ignore[arg-type]
    workers.submit("first")  # type: ignore[arg-type]
    assert done.acquire(timeout=5)
    for _ in range(100):  # the worker parks itself as idle right after its call
        if workers._idle:
            break
        threading.Event().wait(0.01)
    workers.submit("second")  # type: ignore[arg-type]
    assert done.acquire(timeout=5)
    assert [c for c, _ in seen] == ["first", "second"] and seen[0][1] == seen[1][1]
    (worker,) = _workers_alive()
    workers.close()
    worker.join(5)
    assert not worker.is_alive()
