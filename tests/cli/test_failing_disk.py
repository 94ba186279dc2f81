"""Results survive a failing disk: `gameday run --out` on a read-only file system is refused
before anything starts (one line, exit 2); on a full one (a 64 KiB or 16 KiB tmpfs) the
gamedays run, the verdicts and the exit status stand, one line names the files that could not
be written, and every file there is complete (written whole or not at all), never a
traceback. Needs root (mount); skipped with the reason otherwise."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from trust.support import REPO, checkout_env

from harness.errors import OutputError
from harness.reports.json_results import read_run, write_atomic

FIXED = REPO / "runbooks" / "incident-response.fixed.md"
RUN = ("run", "--backend", "local", "--scenario", "service-down", "--runbook", str(FIXED),
       "-j", "1")  # fmt: skip


def _mount(path: Path, *options: str) -> None:
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {proc.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted afterwards (lazily, should a process still hold it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "mnt"
    where.mkdir()
    _mount(where, "size=64k")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def gameday(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gameday", *argv], capture_output=True, text=True, cwd=cwd, env=checkout_env(),
        timeout=300,
    )  # fmt: skip


def test_an_atomic_write_that_fails_leaves_no_file_and_no_temp_file(tmpfs: Path):
    (tmpfs / "results.json").write_text("the previous run\n")
    with pytest.raises(OutputError) as failed:
        write_atomic(tmpfs / "results.json", "x" * 200_000)
    assert failed.value.reason == "No space left on device"
    assert failed.value.path == str(tmpfs / "results.json")
    assert (tmpfs / "results.json").read_text() == "the previous run\n"  # not cut
    assert sorted(p.name for p in tmpfs.iterdir()) == ["results.json"]


@pytest.mark.parametrize("where", ["mount point", "subdirectory"])
def test_a_read_only_output_directory_is_refused_before_anything_starts(tmpfs, tmp_path, where):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    out = tmpfs if where == "mount point" else tmpfs / "sub"
    proc = gameday(*RUN, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "Read-only file system" in proc.stderr
    assert ("is not writable" if where == "mount point" else "cannot create") in proc.stderr


@pytest.mark.parametrize("size", ["64k", "16k"])
def test_a_full_output_directory_keeps_verdicts_and_names_what_was_not_written(
    tmpfs, tmp_path, size
):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(tmpfs)], check=True)
    proc = gameday(*RUN, "--out", str(tmpfs), cwd=tmp_path)
    both = proc.stdout + proc.stderr
    assert proc.returncode == 0, both[-4000:]  # the verdict was as expected: the disk is not it
    assert "Traceback" not in both and "INTERNALERROR" not in both, both[-4000:]
    assert any(ln.split()[1:4] == ["recovered", "service-down", "incident-response.fixed"]
               for ln in proc.stdout.splitlines()), proc.stdout  # fmt: skip
    lines = [ln for ln in proc.stderr.splitlines() if "not written" in ln]
    for line in lines:  # one line per writer the disk refused, naming its file
        assert line.startswith("gameday: ") and "No space left on device" in line, line
    refused = {Path(ln.split(": not written", 1)[0].rsplit(" ", 1)[-1]).name for ln in lines}
    if size == "16k":
        assert "report.html" in refused, proc.stderr  # never fits in 16 KiB
    present = {p.name for p in tmpfs.iterdir()}
    assert not [p for p in present if p.endswith(".tmp")], present
    files = {p for p in present if not (tmpfs / p).is_dir()}
    assert not refused & files, (refused, present)  # absent, not cut where the disk filled
    assert not list(tmpfs.rglob(".*.tmp"))
    if "results.json" in present:  # complete: it reads back, with the verdict printed above
        [result] = read_run(tmpfs).results
        assert result.verdict.value == "recovered"

