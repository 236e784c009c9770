"""Benchmark the letter service: the real server on a loopback port, a real HTTP client.

Starts ``dunning serve`` (``--workers`` renderer processes), waits until it is ready, then
asks for the standard formal zh_CN letter (MT-000004's record under distinct account ids, so
that the minimum interval does not suppress them) at 1, 2 and 4 concurrent clients and
prints p50/p95/p99 latency and letters per second at each, the peak memory of the server
(every process of it, from /proc), and, in the same run, the wall time of a cold
``dunning render`` of the same letter. Targets on a 2-core machine (issue 19): p50 at one
client at most 250 ms and a quarter of the cold render; p99 at two clients at most 600 ms;
saturated throughput at least 90 % of the batch's letters per second (bench/run_bench.py).

    .venv/bin/python bench/serve_bench.py --requests 40 --workers 2
"""

from __future__ import annotations

# ruff: noqa: T201 - a benchmark prints its figures
import argparse
import concurrent.futures
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from run_bench import _memory, _tree  # noqa: E402

AS_OF = "2026-11-20"


def _record() -> dict[str, Any]:
    from tests.helpers import SAMPLE_FILES, raw_rows

    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000004")
    return {k: v for k, v in row.items() if v != ""}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="letters per concurrency")
    parser.add_argument("--workers", type=int, default=2, help="renderer processes")
    parser.add_argument("--clients", default="1,2,4",
                        help="concurrent clients of each level, comma-separated")
    args = parser.parse_args(argv)

    from dunning.keys import add_key

    folder = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    key = add_key(folder / "keys.yaml", "bench", ["mingtai"],
                  ["mingtai", "jinqiao", "lungmun", "risheng"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("dunning")
    server = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--workers", str(args.workers), "--keys",
         str(folder / "keys.yaml"), "--ledger", f"sqlite:///{folder / 'ledger.sqlite'}",
         "--queue", "64", "--out", str(folder / "letters")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(_memory(pid)[0] for pid in _tree(server.pid)))
            time.sleep(0.1)

    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        threading.Thread(target=sample, daemon=True).start()
        record = _record()
        counter = iter(range(1_000_000))
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/pdf"}

        def one(client: httpx.Client) -> float:
            body = {**record, "account_id": f"SB-{next(counter):06d}", "as_of": AS_OF}
            started = time.perf_counter()
            response = client.post("/v1/letters", json=body)
            elapsed = time.perf_counter() - started
            if response.status_code != 201:
                raise SystemExit(f"{response.status_code}: {response.text[:200]}")
            return elapsed

        with httpx.Client(base_url=url, headers=headers, timeout=120) as warm:
            one(warm)  # the first letter of each renderer is not the one measured
        def rss() -> float:
            return sum(_memory(pid)[0] for pid in _tree(server.pid)) / 2**20

        print(f"server: {args.workers} renderer(s); {args.requests} letters per level; "
              f"{rss():.0f} MiB RSS after the first letter")
        best_rate = 0.0
        for clients in (int(n) for n in args.clients.split(",")):
            def worker(n: int) -> list[float]:
                with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                    return [one(client) for _ in range(n)]

            share = [args.requests // clients] * clients
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                times = [t for part in pool.map(worker, share) for t in part]
            wall = time.perf_counter() - started
            rate = len(times) / wall
            best_rate = max(best_rate, rate)
            print(f"{clients} client(s): p50 {1000 * statistics.median(times):.0f} ms, "
                  f"p95 {1000 * _percentile(times, 0.95):.0f} ms, "
                  f"p99 {1000 * _percentile(times, 0.99):.0f} ms, {rate:.1f} letters/s; "
                  f"{rss():.0f} MiB RSS after")
        print(f"peak memory of the server (all its processes): {peak[0] / 2**20:.0f} MiB RSS")
    finally:
        done.set()
        server.terminate()
        server.wait(timeout=120)
    single = folder / "one.json"
    single.write_text(json.dumps({**_record(), "account_id": "SB-COLD"}), "utf-8")
    started = time.perf_counter()
    subprocess.run([str(exe), "render", "--input", str(single), "--as-of", AS_OF, "-o",
                    str(folder / "cold.pdf"), "--ledger",
                    f"sqlite:///{folder / 'cold.sqlite'}"], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"cold `dunning render` of the same letter: "
          f"{1000 * (time.perf_counter() - started):.0f} ms wall")
    print(f"saturated throughput: {best_rate:.1f} letters/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
