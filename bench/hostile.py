#!/usr/bin/env python3
"""bench/hostile.py -- the service against hostile clients and bad luck (make bench-hostile).

For each binary given (a second one, such as an older build, is compared with the first in
the same run, alternating), on a fresh database:
  - memory: peak and lasting RSS after JSON bodies of empty objects ([{},{},...]) of 1, 8
    and 64 MiB posted to /v1/networks, one after the other, against the RSS of the
    service as started; sent as curl sends a large body (Expect: 100-continue, the body
    once the server said to go on);
  - /healthz latency (median and worst of 20, each on a new connection, 10 s timeout)
    with nothing else, with 1,000 idle sockets open from another address (127.0.0.2),
    with 100 slow clients sending a header byte every 5 s (35 s in: past the 30 s a
    request's headers may take), and while two large dataset uploads are being parsed;
  - one-row predictions per second under wrk, without tokens and with a token file
    (when the binary takes --token-file), alternating, medians of 3.
Figures only; nothing here passes or fails.

usage: python3 bench/hostile.py BIN [OTHER_BIN] [--wrk-seconds N]
"""
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PORT = int(os.environ.get("PORT", "18191"))


class Server:
    def __init__(self, binary, extra=()):
        self.dir = tempfile.mkdtemp(prefix="neurond-hostile-")
        self.port = PORT
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--db", os.path.join(self.dir, "db"),
             "--threads", "1", *extra], stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{binary} did not start; see {self.dir}/log")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0   # MiB
        return float("nan")

    def reset_peak(self):
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")


def post(base, path, body, ctype="application/json", headers=None, timeout=600):
    req = urllib.request.Request(base + path, data=body, method="POST",
                                 headers={"Content-Type": ctype, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def post_expect(port, path, body, ctype="application/json", timeout=600):
    """POSTs body as curl does a large one: the headers with Expect: 100-continue, then the
    body once the server answers 100 Continue. The final status, or 0 on an error."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                  f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        f = s.makefile("rb")
        status = int(f.readline().split()[1])
        if status == 100:
            while f.readline() not in (b"\r\n", b""):
                pass
            s.sendall(body)
            status = int(f.readline().split()[1])
        s.close()
        return status
    except (OSError, ValueError, IndexError):
        return 0


def healthz_ms(base, n=20, timeout=10.0):
    """Median and worst latency in ms of n GET /healthz on new connections; a failure
    counts as the timeout."""
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        try:
            urllib.request.urlopen(base + "/healthz", timeout=timeout).read()
            times.append((time.monotonic() - t0) * 1000)
        except OSError:
            times.append(timeout * 1000)
    return statistics.median(times), max(times), sum(t >= timeout * 1000 for t in times)


def memory(srv):
    rows = []
    before = srv.status("VmRSS")   # the baseline: the service as started
    for mib in (1, 8, 64):
        body = b"[" + b",".join([b"{}"] * (mib * 1024 * 1024 // 3)) + b"]"
        srv.reset_peak()
        t0 = time.monotonic()
        st = post_expect(srv.port, "/v1/networks", body)
        took = time.monotonic() - t0
        time.sleep(1)
        rows.append((mib, st, before, srv.status("VmHWM"), srv.status("VmRSS"), took))
    return rows


def still_open(socks):
    """How many of socks the server has not closed."""
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            n += s.recv(1) != b""
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def idle_sockets(srv, n):
    """n idle connections from 127.0.0.2 (another client than the probe's 127.0.0.1)."""
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5,
                                         source_address=("127.0.0.2", 0))
            socks.append(s)
        except OSError:
            break
    time.sleep(0.5)
    r = healthz_ms(srv.base)
    kept = still_open(socks)
    for s in socks:
        s.close()
    return len(socks), kept, r


def slow_clients(srv, n=100, every=5.0, seconds=35):
    stop = threading.Event()
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        except OSError:
            break

    def drip():
        while not stop.wait(every):
            for s in socks:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
    t = threading.Thread(target=drip)
    t.start()
    time.sleep(seconds)   # long enough for a request deadline to pass
    r = healthz_ms(srv.base)
    stop.set()
    open_ = still_open(socks)
    t.join()
    for s in socks:
        s.close()
    return len(socks), open_, r


def busy(srv):
    rows = "\n".join(",".join(str((i * 7 + j) % 10) for j in range(50)) + f",{i % 3}"
                     for i in range(300000)).encode()
    threads = [threading.Thread(target=post, args=(srv.base, "/v1/datasets?name=big", rows,
                                                   "text/csv")) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    r = healthz_ms(srv.base, n=10)
    for t in threads:
        t.join()
    return len(rows) / 2**20, r


def model_for(srv, headers):
    rows = "\n".join(",".join(str((i * 7 + j) % 10) for j in range(784)) + f",{i % 10}"
                     for i in range(200)).encode()
    st, b = post(srv.base, "/v1/datasets?name=p", rows, "text/csv", headers)
    ds = json.loads(b)["id"]
    net = {"inputs": 784, "layers": [{"type": "dense", "units": 256, "activation": "relu"},
                                     {"type": "dense", "units": 128, "activation": "relu"},
                                     {"type": "dense", "units": 10, "activation": "softmax"}],
           "loss": "categorical_crossentropy"}
    st, b = post(srv.base, "/v1/jobs", json.dumps({"network": net, "dataset": ds,
                                                   "epochs": 1}).encode(), headers=headers)
    job = json.loads(b)["id"]
    for _ in range(600):
        req = urllib.request.Request(srv.base + "/v1/jobs/" + job, headers=headers or {})
        j = json.load(urllib.request.urlopen(req))
        if j["state"] in ("succeeded", "failed", "cancelled"):
            return j["model"]
        time.sleep(0.1)
    raise RuntimeError("the job did not end")


def wrk_rps(srv, model, seconds, token=None):
    env = dict(os.environ, NEUROND_TOKEN=token or "")
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", "bench/predict.lua",
                          f"{srv.base}/v1/models/{model}/predict"], capture_output=True,
                         text=True, env=env).stdout
    rps = [float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec")]
    bad = [l for l in out.splitlines() if "Non-2xx" in l]
    return (rps[0] if rps else float("nan")), bad


def takes(binary, flag):
    return flag in subprocess.run([binary, "--help"], capture_output=True, text=True).stdout


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    secs = 10
    if "--wrk-seconds" in sys.argv:
        secs = int(sys.argv[sys.argv.index("--wrk-seconds") + 1])
        args = [a for a in args if a != str(secs)]
    if not args:
        print(__doc__)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    for b in args:
        print(f"== {b}")
        srv = Server(b)
        try:
            print("  JSON bodies of empty objects to /v1/networks (RSS in MiB):")
            for mib, st, before, peak, after, took in memory(srv):
                print(f"    {mib:3d} MiB: {st} in {took:.2f} s; peak {peak:.0f} "
                      f"({peak / mib:.1f}x the body), after {after:.0f} (started at "
                      f"{before:.0f}: {100 * (after - before) / before:+.0f}%)")
            med, worst, failed = healthz_ms(srv.base)
            print(f"  /healthz alone: median {med:.1f} ms, worst {worst:.1f} ms, "
                  f"{failed} timed out")
            n, kept, (med, worst, failed) = idle_sockets(srv, 1000)
            print(f"  /healthz with {n} idle sockets from another address ({kept} kept open): "
                  f"median {med:.1f} ms, worst {worst:.1f} ms, {failed} of 20 timed out")
            n, still, (med, worst, failed) = slow_clients(srv)
            print(f"  /healthz with {n} slow clients (a byte every 5 s, 35 s in): median "
                  f"{med:.1f} ms, worst {worst:.1f} ms, {failed} timed out; {still} of them "
                  f"still connected")
            mib, (med, worst, failed) = busy(srv)
            print(f"  /healthz during two {mib:.0f} MiB CSV uploads: median {med:.1f} ms, "
                  f"worst {worst:.1f} ms, {failed} of 10 timed out")
        finally:
            srv.stop()
    # predictions, tokens off and on, alternating
    b = args[0]
    if not takes(b, "--token-file"):
        print(f"{b} takes no --token-file: predictions with tokens not measured")
        return 0
    token = "s3cret-bench-token-0123456789"
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tf:
        tf.write(f"{token} write bench\n")
        tf.flush()
        rps = {"off": [], "on": []}
        for _ in range(3):
            for mode in ("off", "on"):
                srv = Server(b, ["--token-file", tf.name] if mode == "on" else [])
                try:
                    hdr = {"Authorization": "Bearer " + token} if mode == "on" else None
                    r, bad = wrk_rps(srv, model_for(srv, hdr), secs,
                                     token if mode == "on" else None)
                    rps[mode].append(r)
                    if bad:
                        print(f"  tokens {mode}:", *bad)
                finally:
                    srv.stop()
    off_m, on_m = statistics.median(rps["off"]), statistics.median(rps["on"])
    print(f"predictions, {secs} s of wrk -t2 -c64 each, alternating: without tokens "
          f"{[round(x) for x in rps['off']]}, with {[round(x) for x in rps['on']]} req/s; "
          f"medians {off_m:.0f} vs {on_m:.0f} ({100 * (on_m / off_m - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
