#!/usr/bin/env python3
# Figures for docs/performance.md (slow connections): 2,000 slowloris connections
# to each listener of the release binaries under a 1,024-descriptor limit, and
# /health latency through them. Run from the repo root after a release build.

import tempfile, socket, sys, time, subprocess, statistics, urllib.request, resource, re, os
# Usage: slowloris_measure.py  (spawns release binaries under ulimit -n 1024)
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
T = 'target/release/'
def spawn(cmd, prefix):
    p = subprocess.Popen(['prlimit', '--nofile=1024:1024', '--'] + cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = p.stdout.readline()
        if line.startswith(prefix):
            return p, line.strip()
srv, line = spawn([T+'server', '--grpc-addr', '127.0.0.1:0', '--rest-addr', '127.0.0.1:0'], 'bookstream server ready')
grpc = re.search(r'grpc=(\S+)', line).group(1); rest = re.search(r'rest=(\S+)', line).group(1)
cli, cline = spawn([T+'client', '--listen', '127.0.0.1:0', '--server', 'http://'+grpc, '--output', tempfile.mkdtemp() + '/books.txt'], 'bookstream client ready')
trig = cline.split(': ')[1].strip().rstrip('/').replace('http://', '')
def hp(a): h, p = a.rsplit(':', 1); return (h, int(p))
def flood(addr, n, partial):
    held = []
    for _ in range(n):
        s = socket.socket(); 
        try:
            s.connect(hp(addr)); s.send(partial)
        except OSError: pass
        held.append(s)
    return held
def probe(addr, n=300):
    lat = []; fails = 0
    for _ in range(n):
        t = time.perf_counter()
        try:
            with urllib.request.urlopen('http://%s/health' % addr, timeout=5) as r:
                r.read(); ok = r.status == 200
        except Exception:
            ok = False
        lat.append((time.perf_counter() - t) * 1000)
        fails += 0 if ok else 1
    lat.sort()
    return lat[len(lat)//2], lat[int(len(lat)*0.99)-1], max(lat), fails
H1 = b'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: '
H2 = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00'
print('idle  rest  p50/p99/max ms, fails', probe(rest))
print('idle  trig  p50/p99/max ms, fails', probe(trig))
a = flood(rest, 2000, H1); b = flood(grpc, 2000, H2); c = flood(trig, 2000, H1)
print('flood rest  p50/p99/max ms, fails', probe(rest))
print('flood trig  p50/p99/max ms, fails', probe(trig))
m = urllib.request.urlopen('http://%s/metrics' % rest).read().decode()
print([l for l in m.splitlines() if l.startswith('bookstream_connections_closed_total')])
m = urllib.request.urlopen('http://%s/metrics' % trig).read().decode()
print([l for l in m.splitlines() if l.startswith('bookstream_connections_closed_total')])
srv.kill(); cli.kill()
