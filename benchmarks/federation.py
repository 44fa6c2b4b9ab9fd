#!/usr/bin/env python3
"""Federation throughput: package transfer against ``curl``, and durable messages per second.

Two nodes (a Dutch and a Japanese one) are created in a temporary folder and
add each other's cards; the recipient (Japan) runs ``rogatory serve`` with
mutual TLS on loopback and the sender works from its command line / API.

1. **Transfer.** A package holding a ``--size-mib`` evidence file (2 GiB by
   default) is made with ``rogatory package create``; each timed run sends a
   fresh package with ``rogatory package send`` (the CLI as a user runs it).
   The figure compared is the upload phase that ``--json`` reports
   (``upload_seconds``: the bytes from the first to the last over mutual TLS,
   written and hashed by the recipient); the end-to-end time (hashing the
   package, the offer, the upload, the recipient's full verification and
   import, the receipts) is printed beside it. The baseline is ``curl`` uploading
   the same bytes to the same server endpoint (``PUT /federation/transfers/…``)
   with the same client certificate, in the same run, alternating with ours.
   Target: our upload ≥ 200 MB/s; the ratio curl time / our time is printed.

2. **Messages.** ``--messages`` signed, encrypted, durable messages (type
   ``alert``, a 200-byte body) are queued in the sender's outbox (batches of
   100, ``enqueue_many``) while a delivery loop (``deliver_due``, what
   ``rogatory serve`` runs every second) sends them; the peer checks each one,
   stores it and returns a signed receipt that the sender verifies and stores.
   Timed from the first enqueue to the last receipt stored, after a small
   untimed warm-up; ``--runs`` runs, the median is compared. Target ≥ 500 messages/s.

Usage::

    python benchmarks/federation.py                     # 2 GiB, 3 runs, 2,000 messages
    python benchmarks/federation.py --quick             # 64 MiB, 1 run, 300 messages
    python benchmarks/federation.py --json-file out.json

The scratch folder is a new temporary folder inside ``--workdir`` (deleted at
the end). Exits 0 when it ran; failed targets are listed as ``TARGETS FAILED``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ACQ = [
    "--acquired-by",
    "bench",
    "--location",
    "lab",
    "--source-device",
    "synthetic",
    "--method",
    "logical",
    "--tool",
    "bench 1",
]
NL, JP = "nl.police-cybercrime", "jp.central-authority"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ROGATORY_")}


def rogatory(home: Path, *args: str, timeout: float = 3600) -> Any:
    res = subprocess.run(
        [sys.executable, "-m", "rogatory", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
    )
    if res.returncode != 0:
        raise SystemExit(f"rogatory {' '.join(args)} failed: {res.stderr.strip()}")
    return json.loads(res.stdout) if "--json" in args else res.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_jiffies() -> tuple[int, int]:
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Bench:
    def __init__(self, work: Path, size_mib: int) -> None:
        self.work = work
        self.size = size_mib << 20
        self.homes = {NL: work / NL, JP: work / JP}
        self.ports = {NL: free_port(), JP: free_port()}
        self.servers: list[subprocess.Popen[bytes]] = []

    def setup(self) -> None:
        for node, country in ((NL, "NL"), (JP, "JP")):
            rogatory(
                self.homes[node],
                "init",
                "--node-id",
                node,
                "--country",
                country,
                "--agency",
                f"bench {country}",
                "--role",
                "police",
            )
            rogatory(self.homes[node], "node", "set-url", f"https://127.0.0.1:{self.ports[node]}")
        cards = {}
        for node in (NL, JP):
            path = self.work / f"{node}.card.json"
            fp = rogatory(self.homes[node], "node", "card", "--out", str(path), "--json")
            cards[node] = (path, fp["fingerprint"])
        rogatory(
            self.homes[NL],
            "peer",
            "add",
            str(cards[JP][0]),
            "--fingerprint",
            cards[JP][1],
            "--json",
        )
        rogatory(
            self.homes[JP],
            "peer",
            "add",
            str(cards[NL][0]),
            "--fingerprint",
            cards[NL][1],
            "--json",
        )
        log = (self.work / f"{JP}.serve.log").open("wb")
        self.servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rogatory",
                    "--home",
                    str(self.homes[JP]),
                    "serve",
                    "--checkpoint-interval",
                    "0",
                ],
                stdout=log,
                stderr=log,
                env=env(),
            )
        )
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.ports[JP])) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{JP}'s server did not start")
            time.sleep(0.2)
        rogatory(self.homes[NL], "case", "open", "--reference", "BENCH-1", "--title", "bench")

    def stop(self) -> None:
        for p in self.servers:
            p.terminate()
        for p in self.servers:
            p.wait(timeout=30)

    def node(self, node_id: str) -> Any:
        from rogatory.custody.log import CustodyLog
        from rogatory.exchange.node import FederationNode
        from rogatory.node.home import NodeHome
        from rogatory.node.keys import KeyPurpose, load_signing_key
        from rogatory.store.database import Database

        home = NodeHome.open(self.homes[node_id])
        db = Database(home.database_url)
        log = CustodyLog(
            db, node_id, load_signing_key(home.keys_dir, KeyPurpose.LOG, None), home.path
        )
        return FederationNode(home, db, log, None)

    # ------------------------------------------------------------ transfer

    def make_package(self, i: int) -> Path:
        data = self.work / "evidence.bin"
        if not data.exists():
            with data.open("wb") as f:
                left = self.size
                while left:
                    n = min(left, 16 << 20)
                    f.write(os.urandom(n))
                    left -= n
            rogatory(
                self.homes[NL],
                "evidence",
                "add",
                "BENCH-1",
                str(data),
                "--in-place",
                *ACQ,
                "--json",
            )
        out = self.work / f"pkg-{i}.rogpkg"
        rogatory(
            self.homes[NL],
            "-q",
            "package",
            "create",
            "BENCH-1",
            "--item",
            "EV-000001",
            "--to",
            JP,
            "--out",
            str(out),
            "--json",
        )
        return out

    def ours(self, pkg: Path) -> dict[str, Any]:
        subprocess.run(["cat", str(pkg)], stdout=subprocess.DEVNULL, check=True)  # warm the cache
        t = time.perf_counter()
        res = rogatory(self.homes[NL], "-q", "package", "send", str(pkg), "--to", JP, "--json")
        total = time.perf_counter() - t
        assert res["status"] == "done" and res["receipt"]["sha256"], res
        return {
            "upload_seconds": res["upload_seconds"],
            "total_seconds": total,
            "bytes": res["size"],
        }

    def offer(self, pkg: Path) -> str:
        """Offer ``pkg`` to JP through our own outbox (what ``package send`` does first)."""
        from rogatory.exchange.envelope import MessageType
        from rogatory.exchange.outbox import deliver_one, enqueue
        from rogatory.exchange.transfer import file_sha256, offer_id

        node = self.node(NL)
        sha, size = file_sha256(pkg)
        enqueue(
            node,
            JP,
            MessageType.PACKAGE_OFFER,
            {"sha256": sha, "size": size, "file_name": pkg.name},
            message_id=offer_id(sha),
        )
        assert deliver_one(node, offer_id(sha)).status == "delivered"
        node.db.close()
        return sha

    def curl(self, pkg: Path) -> float:
        """curl PUTs ``pkg`` into an offered transfer on JP's server, with NL's client certificate."""
        copy = self.work / "curl-copy.bin"
        shutil.copyfile(pkg, copy)
        with copy.open("ab") as f:  # one byte more: another SHA-256, a transfer of its own
            f.write(os.urandom(1))
        sha = self.offer(copy)
        subprocess.run(["cat", str(copy)], stdout=subprocess.DEVNULL, check=True)
        keys = self.homes[NL] / "keys"
        cmd = [
            "curl",
            "-sS",
            "--fail",
            "--http1.1",
            "--tlsv1.3",
            "--cert",
            str(keys / "tls.cert.pem"),
            "--key",
            str(keys / "tls.key.pem"),
            "--cacert",
            str(self.homes[JP] / "keys" / "tls.cert.pem"),
            "--resolve",
            f"{JP}:{self.ports[JP]}:127.0.0.1",
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
            str(copy),
            f"https://{JP}:{self.ports[JP]}/federation/transfers/{sha}?offset=0",
        ]
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t
        if res.returncode != 0:
            raise SystemExit(f"curl failed: {res.stderr.strip()}")
        assert json.loads(res.stdout)["offset"] == copy.stat().st_size, res.stdout
        copy.unlink()
        return seconds

    # ------------------------------------------------------------ messages

    def messages(self, n: int) -> dict[str, float]:
        from sqlalchemy import func, select

        from rogatory.exchange.envelope import MessageType
        from rogatory.exchange.outbox import Draft, deliver_due, enqueue_many
        from rogatory.store.schema import OutboxRow

        node = self.node(NL)
        body = {"text": "x" * 200}
        # warm-up (not timed): keys unlocked, modules imported, connection code paths loaded
        enqueue_many(node, [Draft(JP, MessageType.ALERT, body) for _ in range(10)])
        deliver_due(node)

        def count(status: str) -> int:
            with node.db.session() as s:
                return int(s.scalar(select(func.count()).where(OutboxRow.status == status)) or 0)

        queued_all = threading.Event()
        failures: list[BaseException] = []

        def deliver_loop() -> None:  # what a node's outbox clock does
            try:
                while True:
                    done = queued_all.is_set()
                    if not deliver_due(node, include_waiting=True):
                        # nothing was due: wait a moment rather than spin (a spinning
                        # poll starves the thread that queues; serve polls every second)
                        time.sleep(0.01)
                    if done and count("pending") == 0:
                        return
            except BaseException as exc:
                failures.append(exc)

        before = count("delivered")
        t = time.perf_counter()
        worker = threading.Thread(target=deliver_loop)
        worker.start()
        for start in range(0, n, 100):
            enqueue_many(
                node, [Draft(JP, MessageType.ALERT, body) for _ in range(min(100, n - start))]
            )
        queued = time.perf_counter() - t
        queued_all.set()
        worker.join()
        total = time.perf_counter() - t
        if failures:
            raise failures[0]
        delivered = count("delivered") - before
        node.db.close()
        assert delivered == n, f"only {delivered} of {n} delivered"
        return {"messages": n, "seconds": total, "enqueue_seconds": queued, "per_second": n / total}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="64 MiB, 1 run, 300 messages")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="a new scratch folder is made inside it",
    )
    ap.add_argument("--json-file", type=Path)
    args = ap.parse_args()
    if args.quick:
        args.size_mib, args.runs, args.messages = 64, 1, 300
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed: it is the transfer baseline")
    work = Path(tempfile.mkdtemp(prefix="rogatory-fed-bench-", dir=args.workdir))
    bench = Bench(work, args.size_mib)
    busy0 = cpu_jiffies()
    started = dt.datetime.now(dt.UTC)
    try:
        bench.setup()
        msg_runs = []
        for i in range(args.runs):
            j0 = cpu_jiffies()
            got = bench.messages(args.messages)
            j1 = cpu_jiffies()
            got["cpu_busy_share"] = (j1[0] - j0[0]) / max(1, j1[1] - j0[1])
            msg_runs.append(got)
            print(
                f"messages run {i + 1}: {got['messages']} in {got['seconds']:.2f} s = "
                f"{got['per_second']:.0f}/s (machine {got['cpu_busy_share']:.0%} busy)",
                flush=True,
            )
        msg = {
            "messages": args.messages,
            "runs": msg_runs,
            "per_second": statistics.median(r["per_second"] for r in msg_runs),
        }
        ours_runs, curl_runs = [], []
        for i in range(args.runs):
            pkg = bench.make_package(i)
            ours_runs.append(bench.ours(pkg))
            curl_runs.append(bench.curl(pkg))
            o, c = ours_runs[-1], curl_runs[-1]
            mb = o["bytes"] / 1e6
            print(
                f"transfer run {i + 1}: ours upload {o['upload_seconds']:.2f} s ({mb / o['upload_seconds']:.0f} MB/s), "
                f"end to end {o['total_seconds']:.2f} s; curl {c:.2f} s ({mb / c:.0f} MB/s)",
                flush=True,
            )
            pkg.unlink()
    finally:
        bench.stop()
    busy1 = cpu_jiffies()
    load = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    size = ours_runs[0]["bytes"]
    upload = statistics.median(r["upload_seconds"] for r in ours_runs)
    total = statistics.median(r["total_seconds"] for r in ours_runs)
    curl_s = statistics.median(curl_runs)
    rate = size / upload / 1e6
    results = {
        "date": started.isoformat(),
        "package_bytes": size,
        "runs": args.runs,
        "transfer_upload_seconds_median": upload,
        "transfer_upload_MBps": rate,
        "transfer_end_to_end_seconds_median": total,
        "curl_seconds_median": curl_s,
        "curl_MBps": size / curl_s / 1e6,
        "ratio_curl_over_ours": curl_s / upload,
        "messages": msg,
        "cpu_busy_share_during_run": load,
        "targets": {
            "transfer >= 200 MB/s": rate >= 200,
            "messages >= 500/s": msg["per_second"] >= 500,
        },
    }
    print()
    print("| metric | ours | baseline | ratio | target | result |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| package upload ({size / 2**20:.0f} MiB, median of {args.runs}) | {rate:.0f} MB/s ({upload:.2f} s) | "
        f"curl {size / curl_s / 1e6:.0f} MB/s ({curl_s:.2f} s) | {curl_s / upload:.2f}× | ≥ 200 MB/s | {'PASS' if rate >= 200 else 'FAIL'} |"
    )
    print(
        f"| package send end to end (incl. recipient's verify + import) | {total:.2f} s | — | — | — | — |"
    )
    print(
        f"| signed, encrypted, durable messages (median of {args.runs}) | {msg['per_second']:.0f}/s | — | — | ≥ 500/s | {'PASS' if msg['per_second'] >= 500 else 'FAIL'} |"
    )
    print(
        f"\nmachine CPU busy during the run: {load:.0%} of {os.cpu_count()} cores (includes this benchmark)"
    )
    failed = [k for k, v in results["targets"].items() if not v]
    if failed:
        print("TARGETS FAILED: " + "; ".join(failed))
    if args.json_file:
        args.json_file.write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
