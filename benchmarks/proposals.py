"""Before/after figures for the proposed changes that can be measured without editing
harness/ (monkeypatches from fastpath_plugin, or the mechanism alone, side by side).

stack_patches   local stack cold start and close, stock vs each fastpath patch vs all.
shim_variants   one bridged command as a step pays it (`bash -c 'docker ps'`): the stock
                `python -S` shim; the same shim as `python -IS` without base64 (binascii);
                and a bash function talking to the bridge over loopback TCP (/dev/tcp),
                the mechanism a shell-function shim would use (argv only: a floor).
reaper_start    the reaper as `python -m harness.backends.local.reaper` (imports the
                package, hence LocalStack, httpx, psutil) vs the same file run as a script.
template_copy   `cp -a` of the PostgreSQL template into the default temp dir vs /dev/shm.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import fastpath_plugin
import stack_bench
from benchlib import REPO, loadavg, stats

from harness.backends.local import servers
from harness.bridge import server as bridge_server


def stack_patches(runs: int) -> dict[str, Any]:
    compose = stack_bench._compose()
    variants: list[tuple[str, list[str]]] = [("stock", [])]
    # the runner-only patches do not touch a stack start
    start_patches = [n for n in fastpath_plugin.SAFE if n not in ("fixed_rate", "load_early")]
    variants += [(name, [name]) for name in start_patches]
    variants += [("all", start_patches)]
    out: dict[str, Any] = {}
    for label, names in variants:
        fastpath_plugin.apply(names)
        try:
            stack_bench.cold_start_once(compose)  # warm
            res = [stack_bench.cold_start_once(compose) for _ in range(runs)]
        finally:
            fastpath_plugin.undo()
        out[label] = {
            "cold_start": stats(r["cold_start"] for r in res),
            "close": stats(r["close"] for r in res),
            "cpu_total_by_ready": stats(r["cpu_total"] for r in res),
            "loadavg": loadavg(),
        }
    return out


class _Bridge:
    """A bridge that answers at once: on a Unix socket (JSON, as the real one) and on a
    loopback TCP port (one line: the exit status)."""

    def __init__(self, workdir: Path) -> None:
        self.sock_path = str(workdir / "bridge.sock")
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.sock_path)
        self.unix.listen(32)
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.stop = threading.Event()
        answer = json.dumps({"rc": 0, "stdout": "", "stderr": ""}).encode()
        self.threads = [
            threading.Thread(target=self._serve, args=(self.unix, b"\n", answer), daemon=True),
            threading.Thread(target=self._serve, args=(self.tcp, b"\n", b"0\n"), daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _serve(self, server: socket.socket, end: bytes, answer: bytes) -> None:
        server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                buf = b""
                while not buf.endswith(end):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                conn.sendall(answer)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=1)
        self.unix.close()
        self.tcp.close()


def _time_bash(script: str, env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env=env, check=True)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env=env, check=True)
        out.append(time.perf_counter() - t)
    return out


def shim_variants(runs: int = 30) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-shimvar-"))
    bridge = _Bridge(work)
    try:
        source = (Path(bridge_server.__file__).parent / "shim.py").read_text()
        stock = work / "stock" / "docker"
        lean = work / "lean" / "docker"
        for path, head, body in (
            (stock, f"#!{sys.executable} -S", source),
            (
                lean,
                f"#!{sys.executable} -IS",
                source.replace("import base64\n", "import binascii\n").replace(
                    "base64.b64decode", "binascii.a2b_base64"
                ),
            ),
        ):
            path.parent.mkdir()
            path.write_text(f"{head}\n{body}")
            path.chmod(0o755)
        function = (
            f"docker() {{ exec 3<>/dev/tcp/127.0.0.1/{bridge.port}; printf '%s\\0' \"$@\" >&3; "
            "printf '\\n' >&3; read -r rc <&3; exec 3>&-; return $rc; }\n"
        )
        env = {**os.environ, "GAMEDAY_BRIDGE": bridge.sock_path}
        return {
            "bash_alone": stats(_time_bash("true", env, runs)),
            "stock_python_S_shim": stats(_time_bash(f"{stock} ps", env, runs)),
            "lean_python_IS_shim": stats(_time_bash(f"{lean} ps", env, runs)),
            "bash_function_devtcp": stats(_time_bash(function + "docker ps", env, runs)),
        }
    finally:
        bridge.close()
        shutil.rmtree(work, ignore_errors=True)


class _InstantBridge(bridge_server.BridgeServer):
    """The real bridge server (socket, protocol, shims as installed), answering at once:
    what is left is the cost of the shim and its protocol, per bridged call."""

    def answer(self, inv: Any) -> Any:
        return bridge_server.Completed(0, "", "")


def bridged_call(runs: int = 30) -> dict[str, Any]:
    """`bash -c 'docker ps'` against the real BridgeServer, with each shim it can install:
    the python -S shim (shim.py, JSON) and the lean one (shim.c, line protocol)."""
    out: dict[str, Any] = {}
    for kind in ("python", "lean"):
        work = Path(tempfile.mkdtemp(prefix="bench-bridged-"))
        previous = os.environ.get("GAMEDAY_SHIM")
        os.environ["GAMEDAY_SHIM"] = kind
        try:
            bridge = _InstantBridge(_NoStack(), work)  # type: ignore[arg-type]
        finally:
            if previous is None:
                os.environ.pop("GAMEDAY_SHIM", None)
            else:
                os.environ["GAMEDAY_SHIM"] = previous
        try:
            env = {
                **os.environ,
                "GAMEDAY_BRIDGE": bridge.socket_path,
                "PATH": f"{bridge.operator_bin}:{os.environ['PATH']}",
            }
            out[f"{bridge.shim_kind}_shim"] = stats(_time_bash("docker ps", env, runs))
        finally:
            bridge.close()
            shutil.rmtree(work, ignore_errors=True)
    out["bash_alone"] = stats(_time_bash("true", dict(os.environ), runs))
    return out


class _NoStack:
    """What BridgeServer needs of a stack when no command reaches one."""

    bridge_socket: str | None = None
    container_bin: str | None = None

    def attach_bridge(self, socket_path: str, container_bin: str) -> None:
        self.bridge_socket, self.container_bin = socket_path, container_bin


def _py(args: list[str], runs: int) -> dict[str, Any]:
    walls, cpus = [], []
    subprocess.run([sys.executable, *args], cwd=REPO, check=True)
    for _ in range(runs):
        before = os.times()
        t = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=REPO, check=True)
        walls.append(time.perf_counter() - t)
        after = os.times()
        cpus.append(
            after.children_user
            - before.children_user
            + after.children_system
            - before.children_system
        )
    return {"wall": stats(walls), "cpu": stats(cpus)}


def reaper_start(runs: int) -> dict[str, Any]:
    path = REPO / "harness" / "backends" / "local" / "reaper.py"
    loader = (
        f"import importlib.util as u; s = u.spec_from_file_location('reaper', {str(path)!r}); "
        "m = u.module_from_spec(s); s.loader.exec_module(m)"
    )
    return {
        "as_module": _py(["-c", "import harness.backends.local.reaper"], runs),
        "as_script": _py(["-c", loader], runs),
        "as_script_IS": _py(["-IS", "-c", loader], runs),
    }


def template_copy(runs: int) -> dict[str, Any]:
    template = servers.template_datadir("testgen", "testgen")
    out = {}
    for label, base in (("default_tmp", None), ("dev_shm", "/dev/shm")):
        if base and not os.path.isdir(base):
            continue
        times = []
        for _ in range(runs):
            work = Path(tempfile.mkdtemp(prefix="bench-copy-", dir=base))
            t = time.perf_counter()
            subprocess.run(["cp", "-a", str(template), str(work / "data")], check=True)
            times.append(time.perf_counter() - t)
            shutil.rmtree(work, ignore_errors=True)
        out[label] = stats(times)
    out["template_mb"] = round(
        sum(f.stat().st_size for f in template.rglob("*") if f.is_file()) / 2**20, 1
    )
    out["template_files"] = sum(1 for _ in template.rglob("*"))
    return out


def oom_inject_encoding(runs: int) -> dict[str, Any]:
    """CacheBloat.inject json-encodes the same 48 MiB entry once per popular source (8
    times, in the gameday's thread); encoding it once gives the same bytes."""
    import json as _json

    from harness.observe.load import POPULAR_SOURCES

    entry = {
        "tests": "def test_popular():\n    assert True\n",
        "provider": "openai",
        "trace": "x" * (48 * 1024 * 1024),
    }
    per_source, once = [], []
    for _ in range(runs):
        t = time.thread_time()
        for _source in POPULAR_SOURCES:
            _json.dumps(entry)
        per_source.append(time.thread_time() - t)
        t = time.thread_time()
        _json.dumps(entry)
        once.append(time.thread_time() - t)
    return {"per_source_cpu": stats(per_source), "once_cpu": stats(once)}


# -- before/after of the changes applied in harness/ ----------------------------------------
_COLD_START_CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
import stack_bench
compose = stack_bench._compose()
stack_bench.cold_start_once(compose)  # warm: the template, the shim, the page cache
r = stack_bench.cold_start_once(compose)
print(json.dumps({{k: r[k] for k in ("cold_start", "close", "cpu_total")}}))
"""


def _tree_at(commit: str) -> Path:
    """harness/ as it was at `commit` (git archive: no worktree, nothing in .git changes)."""
    tree = Path(tempfile.mkdtemp(prefix="bench-before-"))
    archive = subprocess.run(
        ["git", "archive", commit, "harness"], cwd=REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _cold_start_in(tree: Path | None) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("GAMEDAY_SHIM", None)
    if tree is not None:  # first on sys.path: ahead of the editable install's finder
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    code = _COLD_START_CHILD.format(bench=str(Path(__file__).resolve().parent))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree or REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def before_after_stack(commit: str, runs: int) -> dict[str, Any]:
    """Local stack cold start, close and CPU by readiness: harness/ at `commit` (before the
    changes) against the working tree, interleaved round by round (same load for both)."""
    tree = _tree_at(commit)
    res: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    try:
        for _ in range(runs):
            res["before"].append(_cold_start_in(tree))
            res["after"].append(_cold_start_in(None))
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return {
        "commit_before": commit,
        **{
            label: {
                "cold_start": stats(r["cold_start"] for r in rs),
                "close": stats(r["close"] for r in rs),
                "cpu_total_by_ready": stats(r["cpu_total"] for r in rs),
            }
            for label, rs in res.items()
        },
        "loadavg": loadavg(),
    }


def tls_context(runs: int = 30) -> dict[str, Any]:
    """Building an httpx client: the default (loads the CA bundle each time) against the
    harness's one shared context (harness/tls.py)."""
    import httpx

    from harness.tls import shared_context

    out = {}
    for label, kwargs in (("default", {}), ("shared_context", {"verify": shared_context()})):
        cpu = []
        for _ in range(runs):
            t = time.thread_time()
            httpx.Client(**kwargs).close()  # type: ignore[arg-type]
            cpu.append(time.thread_time() - t)
        out[label] = stats(cpu)
    return out
