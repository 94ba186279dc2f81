"""The docker stack's reaper checks the engine after the stack closed, unless the close
told it (reaper.CLOSED) that it removed everything and an engine listing found nothing of
the stack left: then it exits at once. A harness that dies never writes it, so the
reaper's own sweep still follows every death (test_docker_killed_run.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.backends.docker import reaper

from .support import new_stack, require_backend


def _reap(stack_id: str, stack_dir: Path, said: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness.backends.docker.reaper", stack_id,
         str(stack_dir)],
        input=said, capture_output=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_closed_word_ends_the_reaper_before_it_imports_the_engine_client(tmp_path):
    done = _reap("gameday-test-none", tmp_path, reaper.CLOSED)
    assert done.returncode == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines()]
    assert "docker" not in imported  # no check: nothing of the engine was even loaded
    assert tmp_path.exists()  # the stack's own close deletes its dir


def _labelled_volume(stack_id: str) -> Any:
    import docker

    from harness.backends.docker import labels as lbl

    return docker.from_env().volumes.create(
        f"gameday-reaper-test-{stack_id}", labels={lbl.STACK: stack_id}
    )


@pytest.mark.docker
def test_without_the_word_the_reaper_removes_what_carries_the_stacks_label(tmp_path):
    require_backend("docker")
    import docker

    stack_id = f"reapertest{uuid.uuid4().hex[:8]}"
    volume = _labelled_volume(stack_id)
    done = _reap(stack_id, tmp_path, b"")  # end-of-file alone: a harness that died
    assert done.returncode == 0
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().volumes.get(volume.name)
    assert not tmp_path.exists()


@pytest.mark.docker
def test_a_garbled_word_is_no_word(tmp_path):
    require_backend("docker")
    import docker

    stack_id = f"reapertest{uuid.uuid4().hex[:8]}"
    volume = _labelled_volume(stack_id)
    done = _reap(stack_id, tmp_path, reaper.CLOSED[:-2])  # a write cut short
    assert done.returncode == 0
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().volumes.get(volume.name)


class _Recording:
    def __init__(self, stdin: Any) -> None:
        self.stdin, self.written = stdin, b""

    def write(self, data: bytes) -> int:
        self.written += data
        return int(self.stdin.write(data))

    def close(self) -> None:
        self.stdin.close()


@pytest.mark.docker
@pytest.mark.parametrize("left", [[], ["container 0123456789ab"]], ids=["nothing-left", "left"])
def test_the_stack_says_closed_only_when_the_engine_has_nothing_of_it_left(monkeypatch, left):
    require_backend("docker")
    from harness.backends.docker import cleanup

    stack = new_stack("docker")  # not started: its close removes nothing, lists nothing
    recording = _Recording(stack._reaper.stdin)  # type: ignore[attr-defined]
    stack._reaper.stdin = recording  # type: ignore[attr-defined]
    if left:
        monkeypatch.setattr(cleanup, "left_of", lambda client, stack_id: list(left))
    stack.close()
    assert recording.written == (b"" if left else reaper.CLOSED)
