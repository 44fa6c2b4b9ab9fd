#!/usr/bin/env python3
"""Custody-log benchmark: the node's real Merkle log on SQLite, from 10^4 to 10^7 entries.

For each log size N (default 10^4, 10^5, 10^6, 10^7) it measures, with the
project's own code (:class:`rogatory.custody.log.CustodyLog` on the node's
SQLite database, WAL journal and ``synchronous=FULL``):

* **append throughput** of signed, durable custody events: ``log.append`` with
  ``--batch`` events per call (each event canonicalised, signed as a C2SP note
  with Ed25519, salted, committed, hashed into the tree, inserted, and the
  transaction committed and fsynced), and the same with one event per call
  (access events on 1,000 evidence items, a fresh set of items for each size);
* **inclusion and consistency proof generation** against the tree of exactly N
  leaves: ``--proofs`` random ``log.inclusion_proof(i, N)`` and
  ``log.consistency_proof(m, N)`` calls, each a real database query; every proof
  is then verified against ``merkle.tree_hash`` (untimed);
* **time from append to a checkpoint cosigned by two local witnesses**: two
  ``rogatory serve`` witness nodes (BR and JP) run as subprocesses on
  localhost; one run = ``log.append(batch)`` + ``log.publish_checkpoint()`` +
  ``collect_cosignatures`` until both cosigned (median of ``--cosign-runs``);
* **verification of 10,000 inclusion proofs** against one signed checkpoint
  (proofs fetched untimed, then ``merkle.verify_inclusion`` over all of them).

Large logs are built from **synthetic leaves**: random 32-byte commitments whose
stored Merkle hashes are computed with ``merkle.stored_hashes_for_leaves`` and
bulk-inserted with ``executemany`` on a raw ``sqlite3`` connection with
``PRAGMA synchronous=OFF`` (during the bulk build only; every measured append
goes through ``CustodyLog.append`` with ``synchronous=FULL``). Synthetic rows
look like erased events (no statement or salt, ``previous`` NULL), with random
UUID4 event ids and random 64-hex evidence subjects (8 events each), so the
unique and subject indexes are as scattered as with real events and the appends
measured at 10^7 pay the real index cost. One database grows from size
to size; after each build the root is recomputed independently from the
stored commitments (``root_from_leaf_hashes``) and must equal the stored tree's
root. Build time and disk size are reported.

Targets (2-core machine): >= 5,000 signed durable events/s; proof generation
< 1 ms at 10^7; append to cosigned checkpoint <= 5 s; 10,000 proofs verified
in < 1 s. The script always exits 0 when it ran; failed targets show as FAIL.

Before each size it waits (``--wait-max``, default 30 min) until no other
``benchmarks/`` process runs, then (``--idle-wait``) for idle CPUs, and it
reports how much CPU other processes used while it measured. Scratch data goes
to ``--workdir`` (default /work/bench-ledger, about 5.1 GB at 10^7) and is
deleted at the end unless ``--keep``. Results: benchmarks/results/ledger.md.

Usage::

    python benchmarks/ledger.py                       # 10^4 .. 10^7, ~6 min on 2 cores
    python benchmarks/ledger.py --quick               # 10^4 and 10^5
    python benchmarks/ledger.py --sizes 10000,1000000 --json > ledger.json
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from rogatory.custody import merkle
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.custody.log import CustodyLog, StoredHashes
from rogatory.custody.note import open_note, parse_vkey
from rogatory.custody.witnessing import collect_cosignatures
from rogatory.node.home import NodeHome
from rogatory.node.identity import NodeIdentity
from rogatory.node.keys import KeyPurpose, load_signing_key
from rogatory.store.database import Database
from rogatory.store.schema import LogCosignatureRow, LogEntryRow

NODE_ID = "nl.bench"
WITNESSES = (("br.w1", "BR"), ("jp.w2", "JP"))
DEFAULT_SIZES = (10**4, 10**5, 10**6, 10**7)
QUICK_SIZES = (10**4, 10**5)
SYNTHETIC_TIME = "2026-01-01 00:00:00.000000"  # SQLAlchemy's SQLite DATETIME text form

TARGET_EPS = 5_000.0
TARGET_PROOF_MS = 1.0
TARGET_COSIGN_S = 5.0
TARGET_VERIFY_S = 1.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- results


@dataclass
class Result:
    """One measured figure."""

    size: int
    metric: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None
    note: str = ""


@dataclass
class Report:
    machine: dict[str, Any]
    settings: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)
    cosign_runs: dict[int, list[dict[str, float]]] = field(default_factory=dict)
    profile: str = ""
    contention: list[str] = field(default_factory=list)
    other_load: dict[int, float] = field(default_factory=dict)

    def add(self, r: Result) -> None:
        self.results.append(r)
        verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        log(f"  {fmt_size(r.size)} {r.metric}: {fmt_value(r.value)} {r.unit} {r.target} {verdict}")


def fmt_size(n: int) -> str:
    exp = len(str(n)) - 1
    return f"10^{exp}" if n == 10**exp else f"{n:,}"


def fmt_value(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def print_table(report: Report, out: Any) -> None:
    rows = [("size", "metric", "value", "target", "result")]
    for r in report.results:
        verdict = "—" if r.passed is None else ("PASS" if r.passed else "FAIL")
        rows.append(
            (fmt_size(r.size), r.metric, f"{fmt_value(r.value)} {r.unit}", r.target or "—", verdict)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print(
        "| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)) + " |", file=out
    )
    print("| " + " | ".join("-" * w for w in widths) + " |", file=out)
    for row in rows[1:]:
        print(
            "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |", file=out
        )


# ---------------------------------------------------------------- machine


def machine_info(workdir: Path) -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    import cryptography
    import sqlalchemy

    from rogatory import __version__

    disk = shutil.disk_usage(workdir)
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(mem_kib / (1 << 20), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "cryptography": cryptography.__version__,
        "rogatory": __version__,
        "workdir": str(workdir),
        "workdir_free_gib": round(disk.free / (1 << 30), 1),
    }


def _ancestors() -> set[int]:
    pids = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        pids.add(pid)
    return pids


def other_benchmarks() -> list[str]:
    """Command lines of other running ``benchmarks/`` processes (not this one or its parents)."""
    mine = _ancestors()
    found: list[str] = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in mine:
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        cmd = " ".join(a.decode(errors="replace") for a in argv if a)
        if "benchmarks/" in cmd and "grep" not in cmd:
            found.append(f"{d.name}: {cmd[:160]}")
    return found


def cpu_busy(interval: float = 1.0) -> float:
    """Share (0..1) of all CPUs busy over ``interval`` seconds, from /proc/stat."""

    def snap() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            vals = [int(x) for x in fh.readline().split()[1:]]
        return vals[3] + vals[4], sum(vals[:8])

    i0, t0 = snap()
    time.sleep(interval)
    i1, t1 = snap()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_for_quiet(bench_wait: float, idle_wait: float, busy_max: float) -> str:
    """Wait until no other ``benchmarks/`` process runs (at most ``bench_wait`` s), then
    until the CPUs are at most ``busy_max`` busy for 5 s (at most ``idle_wait`` s more).

    Returns "" when quiet, else a description of what was still running.
    """
    start = time.monotonic()
    while others := other_benchmarks():
        if time.monotonic() - start > bench_wait:
            msg = f"other benchmarks still running after {bench_wait:.0f}s: {others}"
            log(msg + "; going ahead")
            return msg
        log(f"waiting for other benchmarks: {others}")
        time.sleep(20)
    deadline = time.monotonic() + idle_wait
    quiet_since: float | None = None
    while True:
        busy = cpu_busy()
        now = time.monotonic()
        if busy <= busy_max:
            quiet_since = quiet_since or now
            if now - quiet_since >= 5:
                return ""
            continue
        quiet_since = None
        if now > deadline:
            msg = f"CPUs still {busy:.0%} busy after {idle_wait:.0f}s"
            log(msg + "; going ahead")
            return msg
        log(f"waiting for idle CPUs: {busy:.0%} busy")
        time.sleep(10)


_CHILD_PIDS: list[int] = []  # the witness servers this script started


def _proc_jiffies(pid: int | str, reaped: bool = False) -> int:
    """utime + stime of a process (plus its reaped children's with ``reaped``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if reaped else 0)


def _busy_jiffies() -> int:
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:]]
    return sum(vals[:8]) - vals[3] - vals[4]


class Watch:
    """What else ran while a measurement ran: other ``benchmarks/`` processes (polled
    every 2 s) and the CPU used by processes other than this one and its witness servers."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.other_cores = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _mine(self) -> int:
        return _proc_jiffies("self", reaped=True) + sum(_proc_jiffies(p) for p in _CHILD_PIDS)

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            self.seen.update(o.split(": ", 1)[1] for o in other_benchmarks())

    def __enter__(self) -> Watch:
        self._t0 = time.monotonic()
        self._busy0 = _busy_jiffies()
        self._mine0 = self._mine()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        wall = time.monotonic() - self._t0
        other = (_busy_jiffies() - self._busy0) - (self._mine() - self._mine0)
        self.other_cores = max(0.0, other / os.sysconf("SC_CLK_TCK") / max(wall, 1e-9))


# ---------------------------------------------------------------- events


SUBJECTS_PER_SIZE = 1000


class Events:
    """Access events on a pool of 1,000 evidence items (so ``previous`` links are found).

    Each log size gets a fresh pool, so every size starts with subjects that have no
    earlier events: the figures then show the effect of the log's size, not of events
    piling up on the same subjects from one size to the next (that cost is real too:
    see the ``previous`` lookup in benchmarks/results/ledger.md).
    """

    def __init__(self, rng: random.Random, tag: int) -> None:
        self.rng = rng
        self.subjects = [
            hashlib.sha256(f"bench-evidence-{tag}-{i}".encode()).hexdigest()
            for i in range(SUBJECTS_PER_SIZE)
        ]

    def make(self, n: int) -> list[CustodyEvent]:
        now = dt.datetime.now(dt.UTC)
        actor = Actor("bench", "bench")
        choice = self.rng.choice
        return [
            CustodyEvent(
                event_type=EventType.ACCESS,
                subject_kind=SubjectKind.EVIDENCE,
                subject_id=choice(self.subjects),
                node=NODE_ID,
                actor=actor,
                time=now,
                case="B-1",
                purpose="benchmark",
            )
            for _ in range(n)
        ]


# ---------------------------------------------------------------- synthetic build


class _SqliteHashes:
    """:class:`merkle.HashReader` over ``log_hashes`` on a raw sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        wanted = sorted(set(indexes))
        marks = ",".join("?" * len(wanted))
        found = dict(
            self.conn.execute(f"SELECT idx, hash FROM log_hashes WHERE idx IN ({marks})", wanted)
        )
        return [bytes(found[i]) for i in indexes]


def db_bytes(db_path: Path) -> int:
    return sum(
        p.stat().st_size for p in (db_path, db_path.with_name(db_path.name + "-wal")) if p.exists()
    )


def _synthetic_rows(n: int, commitments: Sequence[bytes]) -> list[tuple[Any, ...]]:
    """``log_entries`` rows for synthetic leaves ``n, n + 1, …``: random UUID4 event ids and
    random 64-hex evidence subjects (8 events each), so the indexes are as scattered as
    with real events."""
    k = len(commitments)
    ids = os.urandom(16 * k)
    subjects = os.urandom(32 * (k // 8 + 2)).hex()
    first_group = n >> 3
    rows: list[tuple[Any, ...]] = []
    for j, c in enumerate(commitments):
        i = n + j
        g = (i >> 3) - first_group
        rows.append(
            (
                i,
                c,
                str(uuid.UUID(bytes=ids[16 * j : 16 * j + 16], version=4)),
                "evidence:" + subjects[64 * g : 64 * g + 64],
                SYNTHETIC_TIME,
            )
        )
    return rows


def bulk_extend(db_path: Path, target: int, chunk: int, commit_every: int) -> dict[str, Any]:
    """Grow the log to ``target`` leaves with synthetic entries; return build facts.

    Leaves are hashed ``chunk`` at a time with ``merkle.stored_hashes_for_leaves``
    (the frontier hashes it needs are read back from ``log_hashes``) and committed
    every ``commit_every`` leaves, with the log size, so the database is a valid
    log after every commit.
    """
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # bulk build only; measured appends use FULL
        conn.execute("PRAGMA cache_size=-4194304")  # 4 GiB: the random-key indexes stay cached
        conn.execute("PRAGMA temp_store=MEMORY")
        row = conn.execute("SELECT size FROM log_state WHERE id = 1").fetchone()
        if row is None:
            conn.execute("INSERT INTO log_state (id, size, frozen_reason) VALUES (1, 0, NULL)")
            start = 0
        else:
            start = int(row[0])
        reader = _SqliteHashes(conn)
        sha256 = hashlib.sha256
        n = start
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        since_commit = 0
        while n < target:
            k = min(chunk, target - n)
            blob = os.urandom(32 * k)
            commitments = [blob[j : j + 32] for j in range(0, 32 * k, 32)]
            leaves = [sha256(b"\x00" + c).digest() for c in commitments]
            hashes = merkle.stored_hashes_for_leaves(n, leaves, reader)
            first = merkle.stored_hash_count(n)
            conn.executemany(
                "INSERT INTO log_entries (idx, commitment, event_id, event_type, subject, "
                "case_ref, time, previous, statement, salt, erased_at) "
                "VALUES (?, ?, ?, 'access', ?, 'B-1', ?, NULL, NULL, NULL, NULL)",
                _synthetic_rows(n, commitments),
            )
            conn.executemany(
                "INSERT INTO log_hashes (idx, hash) VALUES (?, ?)",
                zip(range(first, first + len(hashes)), hashes, strict=True),
            )
            n += k
            since_commit += k
            if since_commit >= commit_every or n >= target:
                conn.execute("UPDATE log_state SET size = ? WHERE id = 1", (n,))
                conn.execute("COMMIT")
                since_commit = 0
                rate = (n - start) / (time.perf_counter() - t0)
                log(f"  built {n:,} leaves ({rate:,.0f} leaves/s)")
                if n < target:
                    conn.execute("BEGIN")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seconds = time.perf_counter() - t0
    finally:
        conn.close()
    return {"from": start, "to": target, "added": target - start, "seconds": seconds}


def check_root(db: Database, db_path: Path, size: int) -> bytes:
    """Recompute MTH(size) from the stored commitments; it must equal the stored tree's root."""
    with db.session() as s:
        stored = merkle.tree_hash(size, StoredHashes(s))
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        cur = conn.execute("SELECT commitment FROM log_entries WHERE idx < ? ORDER BY idx", (size,))
        sha256 = hashlib.sha256
        streamed = merkle.root_from_leaf_hashes(sha256(b"\x00" + c).digest() for (c,) in cur)
    finally:
        conn.close()
    if streamed != stored:
        raise SystemExit(f"root mismatch at size {size}: stored tree and commitments disagree")
    return stored


# ---------------------------------------------------------------- measurements


def measure_append(log_: CustodyLog, total: int, batch: int, events: Events) -> tuple[float, str]:
    """Events per second for ``total`` events appended ``batch`` per call, after one
    untimed warm-up call (the first append after a bulk build reads cold index pages).

    The note also gives this process's CPU time (user + system) per 1,000 events, which
    other processes on a shared machine disturb far less than the wall-clock rate.
    """
    log_.append(events.make(batch))
    batches = [events.make(batch) for _ in range(max(1, total // batch))]
    times: list[float] = []
    clock = time.perf_counter
    cpu = 0.0
    for chunk in batches:
        c0 = time.process_time()
        t0 = clock()
        log_.append(chunk)
        times.append(clock() - t0)
        cpu += time.process_time() - c0
    n = len(batches) * batch
    eps = n / sum(times)
    ordered = sorted(times)
    p50 = 1000 * ordered[len(ordered) // 2]
    worst = 1000 * ordered[-1]
    return eps, (
        f"{len(batches):,} calls; per call p50 {p50:.1f} ms, max {worst:.1f} ms; "
        f"CPU {1e6 * cpu / n:.1f} ms per 1,000 events"
    )


def leaf_hashes(db: Database, indexes: Sequence[int]) -> dict[int, bytes]:
    """Leaf hashes from the stored commitments (the leaf inputs)."""
    out: dict[int, bytes] = {}
    wanted = sorted(set(indexes))
    with db.session() as s:
        for i in range(0, len(wanted), 900):
            for idx, c in s.execute(
                select(LogEntryRow.idx, LogEntryRow.commitment).where(
                    LogEntryRow.idx.in_(wanted[i : i + 900])
                )
            ):
                out[int(idx)] = merkle.leaf_hash(bytes(c))
    return out


def timed_calls(
    fn: Callable[[int], list[bytes]], args: Sequence[int]
) -> tuple[list[float], list[list[bytes]]]:
    times: list[float] = []
    proofs: list[list[bytes]] = []
    clock = time.perf_counter
    for a in args:
        t0 = clock()
        p = fn(a)
        times.append(clock() - t0)
        proofs.append(p)
    return times, proofs


def describe_times(times: Sequence[float]) -> tuple[float, str]:
    ordered = sorted(times)
    mean_ms = 1000 * statistics.fmean(ordered)
    p50 = 1000 * ordered[len(ordered) // 2]
    p99 = 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return mean_ms, f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, n={len(ordered)}"


def measure_proofs(
    log_: CustodyLog, size: int, count: int, rng: random.Random
) -> tuple[tuple[float, str], tuple[float, str]]:
    """Mean ms per inclusion and per consistency proof at tree size ``size`` (all verified)."""
    idxs = [rng.randrange(size) for _ in range(count)]
    olds = [rng.randint(1, size) for _ in range(count)]
    inc_times, inc_proofs = timed_calls(lambda i: log_.inclusion_proof(i, size), idxs)
    con_times, con_proofs = timed_calls(lambda m: log_.consistency_proof(m, size), olds)
    # verification, untimed
    leaves = leaf_hashes(log_.db, idxs)
    with log_.db.session() as s:
        reader = StoredHashes(s)
        root = merkle.tree_hash(size, reader)
        old_roots = {m: merkle.tree_hash(m, reader) for m in set(olds)}
    for i, p in zip(idxs, inc_proofs, strict=True):
        merkle.verify_inclusion(leaves[i], i, size, p, root)
    for m, p in zip(olds, con_proofs, strict=True):
        merkle.verify_consistency(m, size, p, old_roots[m], root)
    return describe_times(inc_times), describe_times(con_times)


def measure_verify(log_: CustodyLog, count: int, rng: random.Random) -> tuple[float, int]:
    """Seconds to verify ``count`` inclusion proofs against one signed checkpoint."""
    cp, _ = log_.publish_checkpoint()
    open_note(cp.note, [parse_vkey(log_.vkey)])  # the checkpoint's log signature, once
    size, root = cp.checkpoint.size, cp.checkpoint.root_hash
    idxs = [rng.randrange(size) for _ in range(count)]
    leaves = leaf_hashes(log_.db, idxs)
    items = [(leaves[i], i, log_.inclusion_proof(i, size)) for i in idxs]
    verify = merkle.verify_inclusion
    t0 = time.perf_counter()
    for leaf, i, proof in items:
        verify(leaf, i, size, proof, root)
    return time.perf_counter() - t0, size


# ---------------------------------------------------------------- witnesses


def rogatory_cli(home: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "rogatory", "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"rogatory {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WitnessNode:
    name: str
    home: Path
    port: int
    proc: subprocess.Popen[bytes]


def start_witnesses(workdir: Path, bench_home: Path, db: Database) -> list[WitnessNode]:
    """Two witness nodes serving on localhost, trusting the bench log, configured on it."""
    from rogatory.custody.witnessing import add_witness

    bench = json.loads(rogatory_cli(bench_home, "node", "show", "--json"))
    origin, vkey = bench["custody_log"]["origin"], bench["custody_log"]["vkey"]
    nodes: list[WitnessNode] = []
    for node_id, country in WITNESSES:
        home = workdir / node_id
        rogatory_cli(
            home, "init", "--node-id", node_id, "--country", country, "--agency", "Witness"
        )
        rogatory_cli(home, "witness", "trust", origin, "--vkey", vkey)
        wvkey = json.loads(rogatory_cli(home, "node", "show", "--json"))["witness"]["vkey"]
        port = free_port()
        out = open(workdir / f"{node_id}.serve.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rogatory",
                "--home",
                str(home),
                "serve",
                "--insecure-http",
                "--port",
                str(port),
                "--checkpoint-interval",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        nodes.append(WitnessNode(node_id, home, port, proc))
        _CHILD_PIDS.append(proc.pid)
        # the CLI command `witness add` does exactly this on the bench home
        add_witness(db, node_id, wvkey, f"http://127.0.0.1:{port}/witness")
    for w in nodes:
        deadline = time.monotonic() + 60
        while True:
            if w.proc.poll() is not None:
                raise SystemExit(
                    f"witness {w.name} exited; see {workdir / (w.name + '.serve.log')}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{w.port}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"witness {w.name} did not come up on port {w.port}")
            time.sleep(0.2)
        log(f"witness {w.name} serving on port {w.port} (pid {w.proc.pid})")
    return nodes


def stop_witnesses(nodes: Sequence[WitnessNode]) -> None:
    for w in nodes:
        if w.proc.poll() is None:
            w.proc.terminate()
            try:
                w.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()


def measure_cosign(
    log_: CustodyLog, runs: int, batch: int, events: Events
) -> list[dict[str, float]]:
    """Per run: seconds from the append call to a checkpoint cosigned by both witnesses."""
    out: list[dict[str, float]] = []
    for _ in range(runs):
        chunk = events.make(batch)
        t0 = time.perf_counter()
        log_.append(chunk)
        t1 = time.perf_counter()
        cp, created = log_.publish_checkpoint()
        t2 = time.perf_counter()
        results = collect_cosignatures(log_, cp)
        t3 = time.perf_counter()
        with log_.db.session() as s:
            cosigned = s.scalar(
                select(func.count(LogCosignatureRow.id)).where(
                    LogCosignatureRow.size == cp.checkpoint.size
                )
            )
        if not created or len(results) != len(WITNESSES) or not all(r.ok for r in results):
            raise SystemExit(f"cosigning failed: {[(r.witness, r.outcome) for r in results]}")
        if cosigned != len(WITNESSES):
            raise SystemExit(f"{cosigned} cosignatures stored for size {cp.checkpoint.size}")
        out.append(
            {
                "size": float(cp.checkpoint.size),
                "append_s": t1 - t0,
                "checkpoint_s": t2 - t1,
                "cosign_s": t3 - t2,
                "total_s": t3 - t0,
            }
        )
    return out


# ---------------------------------------------------------------- main


def parse_sizes(text: str) -> list[int]:
    sizes: list[int] = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if "^" in part:
            base, exp = part.split("^")
            sizes.append(int(base) ** int(exp))
        elif "e" in part.lower():
            sizes.append(int(float(part)))
        else:
            sizes.append(int(part))
    return sorted(set(sizes))


def profile_append(log_: CustodyLog, batch: int, events: Events) -> str:
    chunks = [events.make(batch) for _ in range(5)]
    prof = cProfile.Profile()
    prof.enable()
    for chunk in chunks:
        log_.append(chunk)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    return buf.getvalue()


def run(args: argparse.Namespace) -> Report:
    sizes = QUICK_SIZES if args.quick else parse_sizes(args.sizes)
    cosign_at = (
        {sizes[0], sizes[-1]} if args.cosign_at is None else set(parse_sizes(args.cosign_at))
    )
    workdir: Path = args.workdir
    marker = workdir / ".rogatory-ledger-bench"
    if workdir.exists() and any(workdir.iterdir()) and not marker.exists():
        # never wipe a folder this script did not make (it once was given /work itself)
        raise SystemExit(
            f"{workdir} exists and was not made by this benchmark; give a new or empty folder"
        )
    if workdir.exists() and not args.reuse:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    marker.touch()
    report = Report(
        machine=machine_info(workdir),
        settings={
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "sizes": list(sizes),
            "batch": args.batch,
            "append_events": args.append_events,
            "single_events": args.single_events,
            "proofs": args.proofs,
            "verify_proofs": args.verify_proofs,
            "cosign_runs": args.cosign_runs,
            "cosign_batch": args.cosign_batch,
            "cosign_at": sorted(cosign_at),
            "build_chunk": args.chunk,
            "build_commit_every": args.commit_every,
            "wait_max": args.wait_max,
            "idle_wait": args.idle_wait,
            "busy_max": args.busy_max,
        },
    )
    rng = random.Random(args.seed)
    home_path = workdir / "nl.bench"
    home, _, _ = NodeHome.initialise(
        home_path, NodeIdentity.create(NODE_ID, "NL", "Bench", []), None
    )
    db = Database(home.database_url)
    db_path = home_path / "rogatory.sqlite3"
    log_ = CustodyLog(db, NODE_ID, load_signing_key(home.keys_dir, KeyPurpose.LOG, None), home.path)
    log_.ensure_key_registered()
    witnesses: list[WitnessNode] = []
    build_total = 0.0
    try:
        for size in sizes:
            log(f"== size {fmt_size(size)} ==")
            events = Events(rng, size)
            current = log_.size()
            if current < size:
                facts = bulk_extend(db_path, size, args.chunk, args.commit_every)
                build_total += facts["seconds"]
                facts["disk_bytes"] = db_bytes(db_path)
                facts["cumulative_build_seconds"] = build_total
                report.builds.append(facts)
                report.add(
                    Result(
                        size,
                        "synthetic build (this step)",
                        facts["seconds"],
                        "s",
                        note=f"{facts['added']:,} leaves, {facts['added'] / facts['seconds']:,.0f} leaves/s",
                    )
                )
                report.add(Result(size, "database size", facts["disk_bytes"] / 1e9, "GB"))
            elif current > size:
                log(
                    f"  log already holds {current:,} > {size:,} entries; proofs still use size {size:,}"
                )
            if args.wait_max > 0 and (
                msg := wait_for_quiet(args.wait_max, args.idle_wait, args.busy_max)
            ):
                report.contention.append(f"before measuring {fmt_size(size)}: {msg}")
            if args.check_root:
                t0 = time.perf_counter()
                check_root(db, db_path, size)
                log(
                    f"  root at {size:,} recomputed from commitments: OK ({time.perf_counter() - t0:.1f}s)"
                )

            with Watch() as watch:
                (inc_ms, inc_note), (con_ms, con_note) = measure_proofs(
                    log_, size, args.proofs, rng
                )
                ok_ms = f"< {TARGET_PROOF_MS:g} ms"
                report.add(
                    Result(
                        size,
                        "inclusion proof",
                        inc_ms,
                        "ms",
                        ok_ms,
                        inc_ms < TARGET_PROOF_MS,
                        inc_note,
                    )
                )
                report.add(
                    Result(
                        size,
                        "consistency proof",
                        con_ms,
                        "ms",
                        ok_ms,
                        con_ms < TARGET_PROOF_MS,
                        con_note,
                    )
                )

                start = log_.size()
                eps, eps_note = measure_append(log_, args.append_events, args.batch, events)
                report.add(
                    Result(
                        size,
                        f"append, batch {args.batch:,}",
                        eps,
                        "events/s",
                        f">= {TARGET_EPS:,.0f}/s",
                        eps >= TARGET_EPS,
                        f"{args.append_events:,} events from size {start:,}; {eps_note}",
                    )
                )
                eps1, eps1_note = measure_append(log_, args.single_events, 1, events)
                report.add(
                    Result(
                        size,
                        "append, batch 1",
                        eps1,
                        "events/s",
                        note=f"one commit+fsync per event; {eps1_note}",
                    )
                )
                if args.profile and size == sizes[-1]:
                    report.profile = profile_append(log_, args.batch, events)

                if size in cosign_at and args.cosign_runs > 0:
                    if not witnesses:
                        witnesses = start_witnesses(workdir, home_path, db)
                    runs = measure_cosign(log_, args.cosign_runs, args.cosign_batch, events)
                    report.cosign_runs[size] = runs
                    med = statistics.median(r["total_s"] for r in runs)
                    parts = ", ".join(
                        f"{k[:-2]} {statistics.median(r[k] for r in runs) * 1000:.0f} ms"
                        for k in ("append_s", "checkpoint_s", "cosign_s")
                    )
                    report.add(
                        Result(
                            size,
                            f"append {args.cosign_batch} → 2 cosignatures",
                            med,
                            "s",
                            f"<= {TARGET_COSIGN_S:g} s",
                            med <= TARGET_COSIGN_S,
                            f"median of {len(runs)}; max {max(r['total_s'] for r in runs):.3f} s; {parts}",
                        )
                    )

                secs, at = measure_verify(log_, args.verify_proofs, rng)
                report.add(
                    Result(
                        size,
                        f"verify {args.verify_proofs:,} inclusion proofs",
                        secs,
                        "s",
                        f"< {TARGET_VERIFY_S:g} s",
                        secs < TARGET_VERIFY_S,
                        f"against one checkpoint of size {at:,}",
                    )
                )
            report.other_load[size] = watch.other_cores
            log(f"  CPU used by other processes while measuring: {watch.other_cores:.2f} cores")
            if watch.seen or watch.other_cores > 0.2:
                msg = (
                    f"while measuring {fmt_size(size)}: other processes used "
                    f"{watch.other_cores:.2f} of {os.cpu_count()} cores on average"
                    + (f"; other benchmarks ran: {sorted(watch.seen)}" if watch.seen else "")
                )
                report.contention.append(msg)
                log(f"  WARNING: {msg}")
    finally:
        stop_witnesses(witnesses)
        db.close()
        if db_path.exists():
            report.settings["final_log_size"] = _final_size(db_path)
            report.settings["final_disk_bytes"] = db_bytes(db_path)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            log(f"removed {workdir}")
    return report


def _final_size(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT size FROM log_state WHERE id = 1").fetchone()
        return int(row[0]) if row else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma list, e.g. 10^4,1e5,1000000",
    )
    p.add_argument("--quick", action="store_true", help="sizes 10^4 and 10^5 only")
    p.add_argument("--batch", type=int, default=1000, help="events per append call (default 1000)")
    p.add_argument(
        "--append-events", type=int, default=20_000, help="events appended per size, batched"
    )
    p.add_argument(
        "--single-events", type=int, default=300, help="events appended one per call, per size"
    )
    p.add_argument(
        "--proofs", type=int, default=1000, help="inclusion and consistency proofs per size"
    )
    p.add_argument(
        "--verify-proofs", type=int, default=10_000, help="proofs verified against one checkpoint"
    )
    p.add_argument(
        "--cosign-runs", type=int, default=10, help="append→cosigned runs (median reported)"
    )
    p.add_argument("--cosign-batch", type=int, default=100, help="events appended per cosign run")
    p.add_argument(
        "--cosign-at",
        default=None,
        help="sizes at which to measure cosigning (default smallest and largest)",
    )
    p.add_argument(
        "--chunk", type=int, default=100_000, help="synthetic leaves hashed and inserted per step"
    )
    p.add_argument(
        "--commit-every",
        type=int,
        default=1_000_000,
        help="synthetic leaves per bulk-build transaction",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("/work/bench-ledger"),
        help="scratch directory (deleted)",
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--reuse", action="store_true", help="do not wipe an existing scratch directory")
    p.add_argument(
        "--no-check-root",
        dest="check_root",
        action="store_false",
        help="skip the independent root check",
    )
    p.add_argument(
        "--wait-max",
        type=float,
        default=1800,
        help="seconds to wait, before each size, for other benchmarks to end (0 = no waiting at all)",
    )
    p.add_argument(
        "--profile", action="store_true", help="cProfile 5 batched appends at the largest size"
    )
    p.add_argument(
        "--idle-wait",
        type=float,
        default=300,
        help="then seconds to wait for idle CPUs (see --busy-max) before each size",
    )
    p.add_argument(
        "--busy-max",
        type=float,
        default=0.15,
        help="CPU share (0..1, all cores) counted as quiet before measuring (default 0.15)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of the table")
    p.add_argument("--json-file", type=Path, help="also write the JSON report here")
    args = p.parse_args(argv)

    report = run(args)
    doc = {
        "machine": report.machine,
        "settings": report.settings,
        "results": [asdict(r) for r in report.results],
        "builds": report.builds,
        "cosign_runs": {str(k): v for k, v in report.cosign_runs.items()},
        "profile": report.profile,
        "contention": report.contention,
        "other_cpu_cores_during_measurement": {str(k): v for k, v in report.other_load.items()},
    }
    if args.json_file:
        args.json_file.write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    m = report.machine
    print(
        f"\nmachine: {m['nproc']} CPUs, {m['cpu_model']}, {m['mem_total_gib']} GiB; Python {m['python']}, SQLite {m['sqlite']}"
    )
    print(f"command: {report.settings['command']}\n")
    print_table(report, sys.stdout)
    print()
    for r in report.results:
        if r.note:
            print(f"  {fmt_size(r.size)} {r.metric}: {r.note}")
    for c in report.contention:
        print(f"  CONTENTION {c}")
    if report.profile:
        print("\nprofile of 5 batched appends at the largest size (tottime):\n" + report.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
