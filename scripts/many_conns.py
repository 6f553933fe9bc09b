#!/usr/bin/env python3
"""Opens N concurrent TCP connections to HOST:PORT from several source addresses, keeps
them all established, then sends one HTTP request on each and reads the answer, then
closes them all. Prints timings as it grows (per-request latency at 1k, 5k, 10k, ... open
connections) and a final line `served=N closed=N failed=0`. Bounded: every phase has a
deadline. Used by tests/tun_scale.rs; run it inside a namespace next to `tuntcp serve`.

  many_conns.py HOST PORT N SRC1[,SRC2,...] [--stats CMD]
"""
import resource
import selectors
import socket
import subprocess
import sys
import time

def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sources = sys.argv[4].split(",")
    stats_cmd = sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--stats" else None
    sel = selectors.DefaultSelector()
    socks = []
    pending = set()
    t0 = time.time()
    marks = {1000, 5000, 10000, 15000, 20000, n}
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((sources[i % len(sources)], 0))
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        socks.append(s)
        pending.add(s)
        sel.register(s, selectors.EVENT_WRITE)
        if len(pending) > 512:
            wait_connected(sel, pending, 60)
        if (i + 1) in marks:
            wait_connected(sel, pending, 120)
            # Latency of 200 requests on already-open connections, at this count.
            sample = socks[: min(200, len(socks))]
            t = time.time()
            for s2 in sample:
                s2.setblocking(True)
                s2.settimeout(10)
                s2.sendall(req)
                read_response(s2)
                s2.setblocking(False)
            dt = (time.time() - t) / len(sample)
            extra = ""
            if stats_cmd:
                extra = " " + subprocess.run(stats_cmd, shell=True, capture_output=True, text=True).stdout.strip()
            print(f"open={i + 1} connect_elapsed={time.time() - t0:.2f}s per_request={dt * 1e6:.0f}us{extra}", flush=True)
    wait_connected(sel, pending, 120)
    served = 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(req)
        read_response(s)
        served += 1
    closed = 0
    for s in socks:
        s.close()
        closed += 1
    print(f"served={served} closed={closed} failed=0 total={time.time() - t0:.2f}s", flush=True)

def wait_connected(sel, pending, timeout):
    deadline = time.time() + timeout
    while pending:
        if time.time() > deadline:
            raise SystemExit(f"failed: {len(pending)} connections not established in {timeout}s")
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise SystemExit(f"failed: connect error {err}")
            sel.unregister(s)
            pending.discard(s)

def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("failed: connection closed early")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("failed: body cut short")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"failed: {head[:40]!r}")

if __name__ == "__main__":
    main()
