#!/usr/bin/env python3
# Figures for docs/performance.md (watching runs): a 10,000,000-book run alone
# and with 2,000 event-stream watchers, three pairs, /health probed throughout.
# Run from the repo root after a release build.

import tempfile, socket, time, subprocess, threading, urllib.request, re, resource, statistics
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
T = 'target/release/'
def spawn(cmd, prefix):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = p.stdout.readline()
        if line.startswith(prefix): return p, line.strip()
srv, line = spawn([T+'server', '--grpc-addr', '127.0.0.1:0', '--rest-addr', '127.0.0.1:0'], 'bookstream server ready')
grpc = re.search(r'grpc=(\S+)', line).group(1)
cli, cline = spawn([T+'client', '--listen', '127.0.0.1:0', '--server', 'http://'+grpc, '--output', tempfile.mkdtemp() + '/w-{run}.txt', '--max-connections', '4096'], 'bookstream client ready')
base = cline.split(': ')[1].strip().rstrip('/')
host, port = base.replace('http://','').rsplit(':',1); port=int(port)
N = 10_000_000
next_id = [1]
def measured(watchers):
    rid = next_id[0]; next_id[0] += 1
    pre = []
    for _ in range(watchers):
        s = socket.socket(); s.connect((host, port)); pre.append(s)
    result = {}; lat = []
    def run():
        t = time.perf_counter(); urllib.request.urlopen(base + '/%d' % N, timeout=600).read(); result['t'] = time.perf_counter() - t
    th = threading.Thread(target=run); th.start()
    def probe():
        while th.is_alive():
            t = time.perf_counter(); urllib.request.urlopen(base + '/health', timeout=5).read()
            lat.append((time.perf_counter() - t) * 1000); time.sleep(0.02)
    pt = threading.Thread(target=probe); pt.start()
    time.sleep(0.3)
    for s in pre:
        s.send(b'GET /runs/%d/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n' % rid)
    th.join(); pt.join()
    codes = {}
    for s in pre:
        s.settimeout(5)
        try: st = s.recv(64).split(b' ')[1].decode()
        except Exception: st = 'none'
        codes[st] = codes.get(st, 0) + 1
        s.close()
    lat.sort()
    return result['t'], lat[int(len(lat) * 0.99) - 1], codes
def rss(pid):
    return int(open('/proc/%d/status' % pid).read().split('VmRSS:')[1].split()[0])
print('client RSS before: %d kB' % rss(cli.pid))
rows = []
for _ in range(3):
    a = measured(0); w = measured(2000)
    rows.append((a, w))
    print('alone %.3f s (health p99 %.1f ms) | 2000 watchers %.3f s (health p99 %.1f ms) %s | ratio %.3f' % (a[0], a[1], w[0], w[1], w[2], w[0] / a[0]))
time.sleep(1)
print('client RSS after the watchers left: %d kB' % rss(cli.pid))
print('mean ratio %.3f' % (statistics.mean(w[0] for a, w in rows) / statistics.mean(a[0] for a, w in rows)))
srv.kill(); cli.kill()
