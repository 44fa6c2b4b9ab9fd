#!/usr/bin/env python3
"""Intake throughput: ``rogatory evidence add`` against the standard tools, on the same data.

Runs, in one go and on the same page-cached data, our intake end to end (the
``rogatory`` CLI as a user runs it, so start-up and recording into the node's
database are included) and the baselines ``openssl dgst -sha256``,
``sha256sum``, ``hashdeep -c md5,sha1,sha256`` and
``hashdeep -r -c md5,sha1,sha256``, then prints the ratios against the targets:

* SHA-256-only ``--in-place`` intake of a 2 GiB file at >= 0.75x ``openssl dgst -sha256``;
* SHA-256+SHA-1+MD5 in one pass at >= 3x ``hashdeep -c md5,sha1,sha256``;
* a tree of 100,000 x 4 KiB files with ``--in-place`` at >= 1.0x
  ``hashdeep -r -c md5,sha1,sha256`` in files/s, every file recorded;
* peak memory of our intake under 200 MB whatever the file size.

Ratio = baseline wall time / our wall time (higher is better for us). Each
figure is the median of ``--runs`` runs; ours and the baselines alternate, the
page cache is warmed before every timed run, and each run waits (up to
``--idle-wait`` seconds) for the CPU to be idle. Every intake gets a fresh node
home, because re-adding an unchanged file to a case skips hashing.

Memory is measured two ways: ``ru_maxrss`` from ``wait4`` (the largest single
process of the run, as ``/usr/bin/time -v`` reports it) and the sampled peak of
the summed PSS of the whole process tree (the intake hashes many small files in
worker processes).

The data (a ``/dev/urandom``-like file and a tree of small random files) is
written to a temporary folder under ``--workdir`` and deleted afterwards. The
script always exits 0 when it ran (it is a benchmark); failed targets are
printed as FAIL.

Usage::

    python benchmarks/intake.py                 # full size, about 10 minutes on 2 cores
    python benchmarks/intake.py --quick         # 256 MiB and 10,000 files
    python benchmarks/intake.py --runs 5 --json > results.json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
RSS_LIMIT_MB = 200.0
ALL3 = ["sha256", "sha1", "md5"]
ACQUISITION = [
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


def human_size(n: int) -> str:
    """``2 GiB``, ``256 MiB``."""
    return f"{n / GiB:g} GiB" if n % GiB == 0 else f"{n / MiB:g} MiB"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine


def cpu_busy(interval: float = 0.5) -> float:
    """Share (0..1) of all CPUs busy over ``interval`` seconds, from /proc/stat."""

    def snap() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            vals = [int(x) for x in fh.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return idle, sum(vals)

    i0, t0 = snap()
    time.sleep(interval)
    i1, t1 = snap()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return total - idle, total


def wait_for_idle(threshold: float, max_wait: float) -> float:
    """Wait until the CPUs are at most ``threshold`` busy (or ``max_wait`` passed); return the last share."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy()
    return busy


def machine_info(rogatory: Sequence[str]) -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    flags: list[str] = []
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = [f for f in ("sha_ni", "avx2", "avx512f") if f in have]
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "missing"
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"

    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rogatory_src_sha256": source_digest(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "cpu_flags": flags,
        "mem_total_gib": round(mem_kib / MiB, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rogatory": version([*rogatory, "--version"]),
        "openssl": version(["openssl", "version"]),
        "sha256sum": version(["sha256sum", "--version"]),
        "hashdeep": version(["hashdeep", "-V"]),
    }


def source_digest(root: Path | None = None) -> str:
    """SHA-256 over the rogatory package's *.py files (names and bytes), to tell versions apart."""
    if root is None:
        try:
            import rogatory
        except ImportError:
            return "not importable"
        root = Path(rogatory.__file__).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def fs_type(path: Path) -> str:
    """File-system type of the mount holding ``path`` (from /proc/mounts)."""
    best, kind = "", "unknown"
    target = str(path.resolve())
    with contextlib.suppress(OSError), open("/proc/mounts") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3:
                continue
            mnt = parts[1]
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, parts[2]
    return kind


# ---------------------------------------------------------------- running


@dataclass
class Run:
    """One timed run of one command."""

    wall_s: float
    cpu_s: float
    maxrss_kib: int
    tree_pss_kib: int
    busy_before: float
    """Share of all CPUs busy just before the run (other sessions)."""
    others_during: float
    """Share of all CPUs used by other processes during the run."""
    returncode: int
    attempts: int = 1


class TreeSampler(threading.Thread):
    """Samples the summed PSS (or RSS) of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.stop = threading.Event()

    @staticmethod
    def _pids(root: int) -> list[int]:
        out: list[int] = []
        stack = [root]
        while stack:
            pid = stack.pop()
            out.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as fh:
                        stack.extend(int(x) for x in fh.read().split())
            except (OSError, ValueError):
                pass
        return out

    @staticmethod
    def _mem_kib(pid: int) -> int:
        for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
            try:
                with open(f"/proc/{pid}/{name}") as fh:
                    for line in fh:
                        if line.startswith(key):
                            return int(line.split()[1])
            except (OSError, ValueError):
                continue
        return 0

    def sample(self) -> None:
        total = sum(self._mem_kib(p) for p in self._pids(self.pid))
        self.peak_kib = max(self.peak_kib, total)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()


def run_timed(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
    sample_tree: bool = False,
    busy_before: float = 0.0,
) -> Run:
    """Run ``argv``; wall time by perf_counter, CPU and peak RSS of this child by wait4.

    The CPU time that other processes used meanwhile is all CPU time in
    /proc/stat, less the child's (with its reaped descendants) and this
    process's own (the memory sampler).
    """
    tick = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    out_cm = open(stdout, "wb") if stdout is not None else open(os.devnull, "wb")  # noqa: SIM115
    with out_cm as out, tempfile.TemporaryFile() as errf:
        busy0, _ = cpu_jiffies()
        self0 = time.process_time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=errf, env=env)
        sampler = TreeSampler(proc.pid) if sample_tree else None
        if sampler is not None:
            sampler.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        busy1, _ = cpu_jiffies()
        own = time.process_time() - self0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
        if proc.returncode != 0:
            errf.seek(0)
            tail = errf.read().decode(errors="replace")[-2000:]
            log(f"  ! {shlex.join(argv)} exited {proc.returncode}:\n{tail}")
    return Run(
        wall_s=wall,
        cpu_s=ru.ru_utime + ru.ru_stime,
        maxrss_kib=ru.ru_maxrss,
        tree_pss_kib=sampler.peak_kib if sampler is not None else 0,
        busy_before=busy_before,
        others_during=max(
            0.0, ((busy1 - busy0) / tick - ru.ru_utime - ru.ru_stime - own) / (ncpu * wall)
        ),
        returncode=proc.returncode,
    )


def log_run(key: str, run: Run) -> None:
    mem = (
        f"  maxrss {run.maxrss_kib * KiB / 1e6:6.1f} MB  tree pss {run.tree_pss_kib * KiB / 1e6:6.1f} MB"
        if run.tree_pss_kib
        else ""
    )
    log(
        f"  {key:<14} {run.wall_s:8.3f} s  cpu {run.cpu_s:7.2f} s{mem}  "
        f"(others: {run.busy_before:.0%} before, {run.others_during:.0%} during)"
    )


# ---------------------------------------------------------------- data


def make_big_file(path: Path, size: int) -> None:
    log(f"writing {human_size(size)} of random bytes to {path}")
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 16 * MiB)
            fh.write(os.urandom(n))
            left -= n


def make_tree(root: Path, files: int, dirs: int, size: int) -> None:
    log(f"writing {files:,} files of {size} bytes in {dirs} folders under {root}")
    per_dir = -(-files // dirs)
    for i in range(files):
        d = root / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        (d / f"f{i:06d}.bin").write_bytes(os.urandom(size))


def warm_file(path: Path) -> None:
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


def warm_tree(root: Path) -> None:
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as fh:
                fh.read()


# ---------------------------------------------------------------- our intake


@dataclass
class Home:
    path: Path
    env: dict[str, str]


def fresh_home(base: Path, rogatory: Sequence[str], serial: int) -> Home:
    path = base / f"home-{serial}"
    env = {**os.environ, "ROGATORY_HOME": str(path)}
    for argv in (
        ["init", "--node-id", "nl.bench", "--country", "NL", "--agency", "Bench"],
        ["case", "open", "--reference", "BENCH-1", "--title", "bench"],
    ):
        done = subprocess.run([*rogatory, *argv], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SetupError(
                f"rogatory {shlex.join(argv)} exited {done.returncode}: {done.stderr[-1500:]}"
            )
    return Home(path, env)


class SetupError(Exception):
    """Preparing a node home for a run failed (the CLI itself is broken)."""


def intake_argv(
    rogatory: Sequence[str], target: Path, algorithms: list[str] | None, in_place: bool
) -> list[str]:
    argv = [*rogatory, "-q", "evidence", "add", "BENCH-1", str(target)]
    if in_place:
        argv.append("--in-place")
    for alg in algorithms or []:
        argv += ["--algorithm", alg]
    return [*argv, *ACQUISITION, "--json"]


def display_argv(argv: Sequence[str], data: Path) -> str:
    """The command as a user would type it, with the data folder shortened."""
    argv = list(argv)
    if argv[1:3] == ["-m", "rogatory"]:
        argv = ["rogatory", *argv[3:]]
    shown = [
        "rogatory" if i == 0 and Path(a).name == "rogatory" else a.replace(str(data), "$DATA")
        for i, a in enumerate(argv)
    ]
    return shlex.join(shown)


def check_intake(
    out: Path, home: Home, expect_files: int, expect_digests: dict[str, str] | None
) -> str | None:
    """Problem with an intake run's result, or None when it recorded what it should."""
    try:
        doc = json.loads(out.read_text())
        item = doc["items"][0]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        return f"unreadable --json output: {exc}"
    if item.get("status") != "recorded":
        return f"item status {item.get('status')!r}: {item.get('error')}"
    if expect_digests:
        for alg, want in expect_digests.items():
            got = item["digests"].get(alg)
            if got is not None and got != want:
                return f"{alg} {got} differs from the baseline's {want}"
    with contextlib.closing(sqlite3.connect(home.path / "rogatory.sqlite3")) as db:
        (n,) = db.execute("SELECT count(*) FROM evidence_files WHERE kind = 'file'").fetchone()
    if n != expect_files:
        return f"{n} file rows recorded, expected {expect_files}"
    return None


def compare_tree_digests(home: Home, hashdeep_out: Path, root: Path) -> str | None:
    """Every file's digests in our database equal hashdeep's; None when they do."""
    theirs: dict[str, tuple[str, str, str]] = {}
    for line in hashdeep_out.read_text().splitlines():
        if not line or line[0] in "%#":
            continue
        _size, md5, sha1, sha256, name = line.split(",", 4)
        theirs[Path(name).relative_to(root).as_posix()] = (md5, sha1, sha256)
    with contextlib.closing(sqlite3.connect(home.path / "rogatory.sqlite3")) as db:
        rows = db.execute(
            "SELECT relpath, md5, sha1, sha256 FROM evidence_files WHERE kind = 'file'"
        ).fetchall()
    ours = {r[0]: (r[1], r[2], r[3]) for r in rows}
    if ours != theirs:
        diff = sorted(set(ours.items()) ^ set(theirs.items()))[:3]
        return f"{len(ours)} vs {len(theirs)} files; first differences: {diff}"
    return None


def parse_openssl(out: Path) -> dict[str, str]:
    return {"sha256": out.read_text().strip().rsplit("= ", 1)[-1]}


def parse_hashdeep_single(out: Path) -> dict[str, str]:
    for line in out.read_text().splitlines():
        if line and line[0] not in "%#":
            _size, md5, sha1, sha256, _name = line.split(",", 4)
            return {"md5": md5, "sha1": sha1, "sha256": sha256}
    return {}


# ---------------------------------------------------------------- the benchmark


@dataclass
class Series:
    """Repeated runs of one command."""

    key: str
    command: str
    runs: list[Run] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not self.errors

    def median(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    def cpu_median(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    def maxrss_mb(self) -> float:
        return max(r.maxrss_kib for r in self.runs) * KiB / 1e6

    def tree_pss_mb(self) -> float:
        return max(r.tree_pss_kib for r in self.runs) * KiB / 1e6


@dataclass
class Row:
    measurement: str
    ours: str
    baseline: str | None
    target: float | None
    unit: str  # "GB/s" or "files/s"
    amount: float  # bytes (GB/s) or files (files/s) per run


class Bench:
    def __init__(self, args: argparse.Namespace, rogatory: list[str], base: Path) -> None:
        self.args = args
        self.rogatory = rogatory
        self.base = base
        self.series: dict[str, Series] = {}
        self.homes = 0
        self.reference: dict[str, dict[str, str]] = {}

    def _series(self, key: str, command: str) -> Series:
        return self.series.setdefault(key, Series(key, command))

    def _idle(self) -> float:
        return wait_for_idle(self.args.idle_threshold, self.args.idle_wait)

    def ours(
        self,
        key: str,
        target: Path,
        algorithms: list[str] | None,
        *,
        in_place: bool,
        files: int,
        warm: Callable[[], None],
        check: Callable[[Home, Path], str | None] | None = None,
    ) -> None:
        argv = intake_argv(self.rogatory, target, algorithms, in_place)
        s = self._series(key, display_argv(argv, self.base))
        out = self.base / f"{key}.json"
        best: Run | None = None
        for attempt in range(1, self.args.retries + 2):
            self.homes += 1
            try:
                home = fresh_home(self.base, self.rogatory, self.homes)
            except SetupError as exc:
                s.errors.append(str(exc))
                log(f"  ! {key}: {exc}")
                return
            try:
                warm()
                busy = self._idle()
                run = run_timed(argv, env=home.env, stdout=out, sample_tree=True, busy_before=busy)
                run.attempts = attempt
                problem = (
                    f"exit status {run.returncode}"
                    if run.returncode != 0
                    else check_intake(out, home, files, self.reference.get(target.name))
                )
                if problem is None and check is not None:
                    problem = check(home, out)
                log_run(key, run)
                if problem:
                    s.runs.append(run)
                    s.errors.append(problem)
                    log(f"  ! {key}: {problem}")
                    return
            finally:
                shutil.rmtree(home.path, ignore_errors=True)
                out.unlink(missing_ok=True)
                if not in_place:
                    os.sync()
            if best is None or run.others_during < best.others_during:
                best = run
            if run.others_during <= self.args.max_others:
                break
        assert best is not None
        s.runs.append(best)

    def baseline(
        self,
        key: str,
        argv: list[str],
        warm: Callable[[], None],
        parse: Callable[[Path], None] | None = None,
    ) -> None:
        s = self._series(key, display_argv(argv, self.base))
        if shutil.which(argv[0]) is None:
            if not s.errors:
                s.errors.append(f"{argv[0]} is not installed")
                log(f"  ! {argv[0]} is not installed; skipping {key}")
            return
        out = self.base / f"{key}.out"
        best: Run | None = None
        try:
            for attempt in range(1, self.args.retries + 2):
                warm()
                busy = self._idle()
                run = run_timed(argv, stdout=out, busy_before=busy)
                run.attempts = attempt
                log_run(key, run)
                if run.returncode != 0:
                    s.runs.append(run)
                    s.errors.append(f"exit status {run.returncode}")
                    return
                if parse is not None:
                    parse(out)
                if best is None or run.others_during < best.others_during:
                    best = run
                if run.others_during <= self.args.max_others:
                    break
        finally:
            out.unlink(missing_ok=True)
        assert best is not None
        s.runs.append(best)

    def run(self) -> list[Row]:
        a = self.args
        big = self.base / "big.bin"
        tree = self.base / "tree"
        tiny = self.base / "tiny.bin"
        make_big_file(big, a.file_size)
        make_tree(tree, a.files, a.dirs, a.small_size)
        tiny.write_bytes(b"x")
        os.sync()

        def warm_big() -> None:
            warm_file(big)

        def warm_tiny() -> None:
            warm_file(tiny)

        def warm_small_tree() -> None:
            warm_tree(tree)

        def ref_openssl(out: Path) -> None:
            self.reference.setdefault(big.name, {}).update(parse_openssl(out))

        def ref_hashdeep(out: Path) -> None:
            self.reference.setdefault(big.name, {}).update(parse_hashdeep_single(out))

        tree_ref = self.base / "tree-reference.txt"

        def check_tree(home: Home, _out: Path) -> str | None:
            if not tree_ref.exists():
                return None
            return compare_tree_digests(home, tree_ref, tree)

        # Reference digests of the tree, once (also checks that hashdeep works).
        if shutil.which("hashdeep"):
            with open(tree_ref, "wb") as fh:
                subprocess.run(
                    ["hashdeep", "-r", "-c", "md5,sha1,sha256", str(tree)], stdout=fh, check=False
                )

        n = a.runs
        log(f"\n== fixed cost: a 1-byte file ({n} runs)")
        for i in range(n):
            log(f" run {i + 1}/{n}")
            self.ours("tiny-sha256", tiny, ["sha256"], in_place=True, files=1, warm=warm_tiny)

        log(f"\n== {human_size(a.file_size)} file, SHA-256 only ({n} runs)")
        for i in range(n):
            log(f" run {i + 1}/{n}")
            self.ours("big-sha256", big, ["sha256"], in_place=True, files=1, warm=warm_big)
            self.baseline(
                "openssl-dgst", ["openssl", "dgst", "-sha256", str(big)], warm_big, ref_openssl
            )
            self.baseline("sha256sum", ["sha256sum", str(big)], warm_big)

        log(f"\n== {human_size(a.file_size)} file, SHA-256+SHA-1+MD5 ({n} runs)")
        for i in range(n):
            log(f" run {i + 1}/{n}")
            self.ours("big-all3", big, ALL3, in_place=True, files=1, warm=warm_big)
            self.baseline(
                "hashdeep-file",
                ["hashdeep", "-c", "md5,sha1,sha256", str(big)],
                warm_big,
                ref_hashdeep,
            )

        log(f"\n== tree of {a.files:,} x {a.small_size} B files, SHA-256+SHA-1+MD5 ({n} runs)")
        for i in range(n):
            log(f" run {i + 1}/{n}")
            self.ours(
                "tree-all3",
                tree,
                ALL3,
                in_place=True,
                files=a.files,
                warm=warm_small_tree,
                check=check_tree if i == 0 else None,
            )
            self.baseline(
                "hashdeep-tree",
                ["hashdeep", "-r", "-c", "md5,sha1,sha256", str(tree)],
                warm_small_tree,
            )

        if a.copy_runs:
            log(f"\n== {human_size(a.file_size)} file copied into the store, default digests")
            for i in range(a.copy_runs):
                log(f" run {i + 1}/{a.copy_runs}")
                self.ours("big-copy", big, None, in_place=False, files=1, warm=warm_big)

        size, files = float(a.file_size), float(a.files)
        gib = human_size(a.file_size)
        rows = [
            Row(
                "1-byte file, SHA-256, --in-place (fixed cost)",
                "tiny-sha256",
                None,
                None,
                "GB/s",
                1,
            ),
            Row(
                f"{gib} file, SHA-256, --in-place", "big-sha256", "openssl-dgst", 0.75, "GB/s", size
            ),
            Row(f"{gib} file, SHA-256, --in-place", "big-sha256", "sha256sum", None, "GB/s", size),
            Row(
                f"{gib} file, SHA-256+SHA-1+MD5, --in-place",
                "big-all3",
                "hashdeep-file",
                3.0,
                "GB/s",
                size,
            ),
            Row(
                f"{a.files:,} x {a.small_size // KiB} KiB files, SHA-256+SHA-1+MD5, --in-place",
                "tree-all3",
                "hashdeep-tree",
                1.0,
                "files/s",
                files,
            ),
        ]
        if a.copy_runs:
            rows.append(
                Row(
                    f"{gib} file, default digests, copied into the store",
                    "big-copy",
                    "hashdeep-file",
                    None,
                    "GB/s",
                    size,
                )
            )
        return rows


# ---------------------------------------------------------------- reporting


def fmt_rate(amount: float, seconds: float, unit: str) -> str:
    if unit == "GB/s":
        return f"{amount / 1e9 / seconds:.2f} GB/s"
    return f"{amount / seconds:,.0f} files/s"


def summarise(bench: Bench, rows: list[Row]) -> dict[str, Any]:
    out_rows: list[dict[str, Any]] = []
    for r in rows:
        ours = bench.series.get(r.ours)
        base = bench.series.get(r.baseline) if r.baseline else None
        d: dict[str, Any] = {
            "measurement": r.measurement,
            "ours_command": ours.command if ours else None,
            "baseline": base.command if base else None,
            "target": r.target,
            "unit": r.unit,
        }
        problems = [*(ours.errors if ours else ["not run"]), *(base.errors if base else [])]
        if ours and ours.runs:
            d["ours_s"] = ours.median()
            d["ours_cpu_s"] = ours.cpu_median()
            d["ours_runs_s"] = [x.wall_s for x in ours.runs]
            d["ours_rate"] = fmt_rate(r.amount, ours.median(), r.unit) if r.amount > 1 else None
            d["peak_rss_mb"] = ours.maxrss_mb()
            d["peak_tree_pss_mb"] = ours.tree_pss_mb()
        if base and base.runs:
            d["baseline_s"] = base.median()
            d["baseline_cpu_s"] = base.cpu_median()
            d["baseline_runs_s"] = [x.wall_s for x in base.runs]
            d["baseline_rate"] = fmt_rate(r.amount, base.median(), r.unit)
        counted = [*(ours.runs if ours else []), *(base.runs if base else [])]
        d["others_max"] = max((x.others_during for x in counted), default=0.0)
        if "ours_s" in d and "baseline_s" in d:
            d["ratio"] = d["baseline_s"] / d["ours_s"]
        if problems:
            d["problems"] = problems
        if r.target is None:
            d["result"] = "info"
        elif problems or "ratio" not in d:
            d["result"] = "FAIL"
        else:
            d["result"] = "PASS" if d["ratio"] >= r.target else "FAIL"
        out_rows.append(d)
    ours_series = [
        s for s in bench.series.values() if s.runs and s.key.startswith(("tiny", "big", "tree"))
    ]
    peak_rss = max((s.maxrss_mb() for s in ours_series), default=0.0)
    peak_pss = max((s.tree_pss_mb() for s in ours_series), default=0.0)
    memory = {
        "measurement": f"peak memory of our intake, any run (< {RSS_LIMIT_MB:g} MB)",
        "peak_rss_mb": peak_rss,
        "peak_tree_pss_mb": peak_pss,
        "result": "PASS" if ours_series and max(peak_rss, peak_pss) < RSS_LIMIT_MB else "FAIL",
    }
    return {"rows": out_rows, "memory": memory}


def print_table(summary: dict[str, Any], info: dict[str, Any]) -> None:
    hdr = [
        "measurement",
        "ours s",
        "baseline",
        "base s",
        "ratio",
        "target",
        "result",
        "RSS/PSS MB",
        "others",
    ]
    lines: list[list[str]] = []
    for d in summary["rows"]:
        base = d.get("baseline") or "—"
        lines.append(
            [
                d["measurement"],
                f"{d['ours_s']:.3f}" if "ours_s" in d else "—",
                base.split(" $DATA")[0].split(" /")[0],
                f"{d['baseline_s']:.3f}" if "baseline_s" in d else "—",
                f"{d['ratio']:.2f}x" if "ratio" in d else "—",
                f"≥ {d['target']:g}x" if d["target"] is not None else "—",
                d["result"],
                f"{d.get('peak_rss_mb', 0):.0f} / {d.get('peak_tree_pss_mb', 0):.0f}"
                if "peak_rss_mb" in d
                else "—",
                f"{d['others_max']:.0%}",
            ]
        )
    m = summary["memory"]
    lines.append(
        [
            m["measurement"],
            "",
            "",
            "",
            "",
            f"< {RSS_LIMIT_MB:g} MB",
            m["result"],
            f"{m['peak_rss_mb']:.0f} / {m['peak_tree_pss_mb']:.0f}",
            "",
        ]
    )
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(hdr)]
    print(
        f"machine: {info['nproc']} x {info['cpu_model']}, Python {info['python']}, {info['rogatory']}"
    )
    print("  ".join(h.ljust(w) for h, w in zip(hdr, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in lines:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()
    for d in summary["rows"]:
        rate = d.get("ours_rate") or ""
        brate = d.get("baseline_rate") or ""
        print(f"* {d['measurement']}: ours {rate}{' vs ' + brate if brate else ''}")
        if d.get("ours_command"):
            print(f"    ours:     {d['ours_command']}")
        if d.get("baseline"):
            print(f"    baseline: {d['baseline']}")
        for p in d.get("problems", []):
            print(f"    PROBLEM:  {p}")
    print(
        "  RSS = largest single process (wait4 ru_maxrss); PSS = sampled peak, summed over the"
        " process tree; others = largest CPU share used by other processes during a counted run"
    )
    failed = [d["measurement"] for d in summary["rows"] if d["result"] == "FAIL"]
    if summary["memory"]["result"] == "FAIL":
        failed.append(summary["memory"]["measurement"])
    print()
    if not info.get("full_size", True):
        print(
            "note: the targets are set for a 2 GiB file and 100,000 files; at this smaller size"
            " the fixed start-up cost weighs more, so FAIL here says little."
        )
    if failed:
        print("TARGETS FAILED:")
        for f in failed:
            print(f"  - {f}")
    else:
        print("All targets met.")


# ---------------------------------------------------------------- main


def default_workdir() -> Path:
    tmp = Path(tempfile.gettempdir())
    if fs_type(tmp) in ("tmpfs", "ramfs"):
        return Path.cwd()
    return tmp


def rogatory_command(text: str | None) -> list[str]:
    if text:
        return shlex.split(text)
    script = Path(sys.executable).with_name("rogatory")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "rogatory"]


@contextlib.contextmanager
def data_dir(workdir: Path, keep: bool) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="rogatory-bench-", dir=workdir))
    try:
        yield base
    finally:
        if keep:
            log(f"kept the data in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="256 MiB file and 10,000 files")
    p.add_argument(
        "--runs", type=int, default=3, help="runs per measurement; the median counts (3)"
    )
    p.add_argument(
        "--copy-runs", type=int, default=1, help="runs of the copy-mode intake (1; 0 skips)"
    )
    p.add_argument("--file-size-mib", type=int, help="size of the big file (2048; --quick 256)")
    p.add_argument("--files", type=int, help="files in the tree (100000; --quick 10000)")
    p.add_argument("--dirs", type=int, default=100, help="folders in the tree (100)")
    p.add_argument("--small-size", type=int, default=4 * KiB, help="bytes per small file (4096)")
    p.add_argument(
        "--workdir", type=Path, help="where to put the data (not tmpfs; default: $TMPDIR)"
    )
    p.add_argument("--rogatory", help="command that runs the CLI (default: the venv's rogatory)")
    p.add_argument("--idle-threshold", type=float, default=0.15, help="CPU share counted as idle")
    p.add_argument(
        "--idle-wait", type=float, default=20.0, help="max seconds to wait for idle CPU (20)"
    )
    p.add_argument(
        "--max-others",
        type=float,
        default=0.10,
        help="rerun a run when other processes used more than this share of the CPUs (0.10)",
    )
    p.add_argument("--retries", type=int, default=2, help="reruns of a disturbed run (2)")
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="run a copy of the rogatory package taken at the start (the tree may change meanwhile)",
    )
    p.add_argument("--keep", action="store_true", help="keep the data folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--json-file", type=Path, help="also write the results as JSON to this file")
    args = p.parse_args(argv)
    args.file_size = (args.file_size_mib or (256 if args.quick else 2048)) * MiB
    args.files = args.files or (10_000 if args.quick else 100_000)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def snapshot_source(dest: Path) -> list[str]:
    """Copy the rogatory package to ``dest`` and return a command that runs that copy.

    Keeps the code under test fixed for the whole run while the working tree changes.
    """
    import rogatory

    shutil.copytree(
        Path(rogatory.__file__).parent,
        dest / "rogatory",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(dest), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return [sys.executable, "-m", "rogatory"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rogatory = rogatory_command(args.rogatory)
    workdir = (args.workdir or default_workdir()).resolve()
    snapshot: Path | None = None
    if args.snapshot:
        snapshot = Path(tempfile.mkdtemp(prefix="rogatory-src-", dir=workdir))
        rogatory = snapshot_source(snapshot)
        smoke = subprocess.run([*rogatory, "--version"], capture_output=True, text=True)
        if smoke.returncode != 0:
            log(f"the snapshot of the source does not run:\n{smoke.stderr[-2000:]}")
            shutil.rmtree(snapshot, ignore_errors=True)
            return 2
    try:
        return _main(args, rogatory, workdir, snapshot)
    finally:
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)


def _main(
    args: argparse.Namespace, rogatory: list[str], workdir: Path, snapshot: Path | None
) -> int:
    kind = fs_type(workdir)
    if kind in ("tmpfs", "ramfs"):
        log(f"warning: {workdir} is on {kind}; the figures will not reflect a disk")
    need = args.file_size * (1 + min(1, args.copy_runs)) + args.files * (args.small_size + 8 * KiB)
    free = shutil.disk_usage(workdir).free
    if free < need * 1.1:
        log(
            f"not enough space in {workdir}: {free / GiB:.1f} GiB free, {need / GiB:.1f} GiB needed"
        )
        return 2
    info = machine_info(rogatory)
    info["full_size"] = args.file_size >= 2 * GiB and args.files >= 100_000
    if snapshot is not None:
        info["rogatory_src_sha256"] = source_digest(snapshot / "rogatory")
    log(f"machine: {json.dumps(info)}")
    started = time.time()
    with data_dir(workdir, args.keep) as base:
        info["data_dir"] = f"{base} ({kind})"
        bench = Bench(args, rogatory, base)
        rows = bench.run()
        summary = summarise(bench, rows)
    elapsed = time.time() - started
    config = {
        "runs": args.runs,
        "copy_runs": args.copy_runs,
        "file_size": args.file_size,
        "files": args.files,
        "dirs": args.dirs,
        "small_size": args.small_size,
        "elapsed_s": round(elapsed, 1),
        "command": shlex.join(["benchmarks/intake.py", *sys.argv[1:]]),
    }
    series = {k: asdict(s) for k, s in bench.series.items()}
    doc = json.dumps({"machine": info, "config": config, **summary, "series": series}, indent=2)
    if args.json_file is not None:
        args.json_file.write_text(doc + "\n")
        log(f"results written to {args.json_file}")
    if args.json:
        print(doc)
    else:
        print_table(summary, info)
        print(f"\n({args.runs} runs each, median; {elapsed / 60:.1f} min in all)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the data folder was removed")
        sys.exit(130)
