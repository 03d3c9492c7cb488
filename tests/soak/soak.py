#!/usr/bin/python3
"""The soak (make soak; tests/soak/soak.sh runs this): for SOAK_SECONDS, clients invoke one
bare function (guest/examples/echo-fn.elf) through `hyperfork serve`, the user's path: each
invocation is a clone activated from the function's template, destroyed after its answer.
Meanwhile random kills: SIGKILL to the template's children (warm and activated clones), to
the template itself while an invocation is being activated (serve must boot it again and the
soak goes on), and to a client process in the middle of its request.

At the start (after a warm-up) and at the end (after the load stops and the pool refills) it
records the template's and serve's open fds and RSS and the host's Slab and SUnreclaim
(/proc/meminfo), prints clones made and failures by cause, and fails (exit 1, saying why) if
  - a process grew beyond the tolerances below, or
  - a zombie, a stale socket in serve's run directory, a tap device, or (after serve has
    stopped) any VMM process or the run directory itself is left.
The template killed mid-run is a new process afterwards: its figures are compared from the
first quiet moment of the template that runs to the end (the kills stop at 70% of the run,
and a quiet moment is taken at 75%).

Environment: SOAK_SECONDS (default 60), SOAK_CLIENTS (parallel clients, default 4),
SOAK_TEMPLATE_KILLS (default 3), HF_BIN (the VMM), SOAK_SEED (random seed), HF_TIME_SCALE.
"""
import ctypes
import glob
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HF = os.environ.get("HF_BIN", os.path.join(TOP, "build", "hyperfork"))
FN_ELF = os.path.join(TOP, "build", "guest", "examples", "echo-fn.elf")
SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
TEMPLATE_KILLS = int(os.environ.get("SOAK_TEMPLATE_KILLS", "3"))
SCALE = float(os.environ.get("HF_TIME_SCALE", "1"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
POOL = 4
NAME = "soak"

# Tolerances, end against start (the same process at rest: load stopped, pool full).
TOL_FDS = 0                 # open fds: none more
TOL_RSS_KB = 8 * 1024       # RSS: 8 MiB (allocator caches), and
TOL_RSS_FRAC = 0.10         # or 10%, whichever is larger
TOL_SLAB_KB = 64 * 1024     # host Slab: 64 MiB (reclaimable caches of 10,000 processes)
TOL_SUNRECLAIM_KB = 32 * 1024  # host SUnreclaim: 32 MiB

lock = threading.Lock()
stats = {"ok": 0, "failures": {}, "client_kills": 0, "clone_kills": 0, "template_kills": 0,
         "template_ready": 0, "orphans_reaped": 0}
stop = threading.Event()
pause = threading.Event()  # clients hold off (a quiet moment)
idle = threading.Semaphore(0)


def fail_cause(cause):
    with lock:
        stats["failures"][cause] = stats["failures"].get(cause, 0) + 1


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def proc_figures(pid):
    """(open fds, RSS kB) of pid."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return fds, rss


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def state_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def taps():
    return sorted(n for n in os.listdir("/sys/class/net")
                  if os.path.exists(f"/sys/class/net/{n}/tun_flags"))


class Serve:
    def __init__(self, run):
        self.run = run
        self.port = 20000 + os.getpid() % 20000
        cfg = {"functions": [{"name": NAME, "image": FN_ELF, "memory": 128, "pool": POOL,
                              "concurrency": 2 * CLIENTS + 4, "timeout": int(10 * SCALE)}]}
        with open(os.path.join(run, "soak.json"), "w") as f:
            json.dump(cfg, f)
        self.err = open(os.path.join(run, "serve.err"), "w")
        self.proc = subprocess.Popen(
            [HF, "serve", "--listen", f"127.0.0.1:{self.port}", "--config",
             os.path.join(run, "soak.json"), "--run-dir", run],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        popen_pids.add(self.proc.pid)
        self.dir = None
        self.ready = threading.Condition(lock)
        threading.Thread(target=self.read_stdout, daemon=True).start()

    def read_stdout(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with lock:
                if line.startswith("serve: listening on") and "in " in line:
                    self.dir = line.rsplit("in ", 1)[1].rstrip(")")
                if line.startswith(f"serve: function {NAME} ready"):
                    stats["template_ready"] += 1
                    self.ready.notify_all()
                elif line.startswith(f"serve: function {NAME}"):
                    print("  " + line, flush=True)

    def wait_ready(self, n, timeout):
        """Until the function has been ready n times; False at timeout or if serve ended."""
        deadline = time.time() + timeout
        with lock:
            while stats["template_ready"] < n:
                if self.proc.poll() is not None or time.time() >= deadline:
                    return False
                self.ready.wait(0.5)
            return True

    def template(self):
        for c in children(self.proc.pid):
            try:
                with open(f"/proc/{c}/cmdline") as f:
                    if "--template" in f.read().split("\0") and state_of(c) not in ("Z", None):
                        return c
            except OSError:
                pass
        return None

    def status(self):
        """The template's status (control socket), or None."""
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5 * SCALE)
            s.connect(os.path.join(self.dir, NAME, NAME + ".sock"))  # the function's own directory
            s.sendall(b'{"cmd":"status"}\n')
            buf = b""
            while not buf.endswith(b"\n"):
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            s.close()
            return json.loads(buf)["vm"]
        except (OSError, ValueError, KeyError):
            return None


def invoke(conn, path, n):
    """One invocation on conn; returns None if right, else the cause of the failure."""
    body = json.dumps({"n": n}).encode()
    conn.request("POST", path, body)
    r = conn.getresponse()
    data = r.read()
    fe = r.getheader("X-Amz-Function-Error")
    if r.status == 200 and not fe:
        try:
            ans = json.loads(data)
            if ans.get("echo") == {"n": n} and ans.get("clone", 0) > 0:
                return None
        except ValueError:
            pass
        return "200 with a wrong answer"
    if fe:
        try:
            return f"{r.status} {fe}: {json.loads(data).get('errorType', '?')}"
        except ValueError:
            return f"{r.status} {fe}"
    return f"{r.status} {r.getheader('x-amzn-ErrorType') or '?'}"


def client(serve, k):
    path = f"/2015-03-31/functions/{NAME}/invocations"
    conn = None
    n = k * 10**9
    while not stop.is_set():
        if pause.is_set():
            idle.release()
            while pause.is_set() and not stop.is_set():
                time.sleep(0.05)
            continue
        n += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60 * SCALE)
            cause = invoke(conn, path, n)
        except (OSError, http.client.HTTPException) as e:
            cause = f"client: {type(e).__name__}"
            conn.close()
            conn = None
        if cause is None:
            with lock:
                stats["ok"] += 1
        else:
            fail_cause(cause)
            if cause.startswith("409"):
                time.sleep(0.05 * SCALE)  # the template is being booted again
    if conn:
        conn.close()


def kill_client_mid_request(serve):
    """A client process sends an invocation and is SIGKILLed before its answer."""
    p = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-X", "POST", "--data", '{"n":1}',
                          f"http://127.0.0.1:{serve.port}/2015-03-31/functions/{NAME}/invocations"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    popen_pids.add(p.pid)
    time.sleep(random.uniform(0.01, 0.1) * SCALE)
    p.send_signal(signal.SIGKILL)
    p.wait()
    popen_pids.discard(p.pid)
    with lock:
        stats["client_kills"] += 1


def kill_template_mid_activation(serve):
    """SIGKILL the template while an invocation is asking it for a clone; wait for serve to
    boot it again."""
    t = serve.template()
    if not t:
        return
    with lock:
        want = stats["template_ready"] + 1
    th = threading.Thread(target=kill_client_mid_request, args=(serve,))
    th.start()
    time.sleep(random.uniform(0, 0.02) * SCALE)
    os.kill(t, signal.SIGKILL)
    th.join()
    with lock:
        stats["template_kills"] += 1
    t0 = time.time()
    if not serve.wait_ready(want, 120 * SCALE):
        fail_cause("template not booted again within %d s" % (120 * SCALE))
    else:
        print(f"  template {t} killed; serve had it ready again in {time.time() - t0:.1f} s",
              flush=True)


def chaos(serve, t_end):
    kills_at = sorted(random.uniform(0.1, 0.7) * SECONDS for _ in range(TEMPLATE_KILLS))
    t0 = time.time()
    while not stop.wait(random.uniform(0.2, 1.0) * SCALE / 10 * 3):
        if time.time() >= t_end or pause.is_set():
            continue
        if kills_at and time.time() - t0 >= kills_at[0]:
            kills_at.pop(0)
            kill_template_mid_activation(serve)
            continue
        if random.random() < 0.6:
            t = serve.template()
            kids = children(t) if t else []
            if kids:
                try:
                    os.kill(random.choice(kids), signal.SIGKILL)
                    with lock:
                        stats["clone_kills"] += 1
                except ProcessLookupError:
                    pass
        else:
            kill_client_mid_request(serve)


popen_pids = set()  # children waited for by their own code (serve, curl)


def reaper():
    """As the subreaper, reap what is reparented here (clones whose template was killed)."""
    while not stats.get("reaper_done"):
        for pid in children(os.getpid()):
            if pid not in popen_pids and state_of(pid) == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                    with lock:
                        stats["orphans_reaped"] += 1
                except ChildProcessError:
                    pass
        time.sleep(0.2)


class Clones:
    """Clones made: the templates' own counts (status "clones"), summed over their lives."""
    def __init__(self):
        self.seen = {}

    def poll(self, serve):
        st = serve.status()
        if st:
            self.seen[st["pid"]] = max(self.seen.get(st["pid"], 0), st["clones"])
        return st

    def total(self):
        return sum(self.seen.values())


def quiet(serve, clones, clients_running):
    """Let the load stop and the pool fill; returns the template's status."""
    pause.set()
    for _ in range(clients_running):
        idle.acquire(timeout=120 * SCALE)
    deadline = time.time() + 60 * SCALE
    st = None
    while time.time() < deadline:
        st = clones.poll(serve)
        if st and st["pool_ready"] == POOL and len(children(st["pid"])) == POOL:
            break
        time.sleep(0.2)
    time.sleep(1 * SCALE)
    return clones.poll(serve)


def figures(serve, st):
    m = meminfo()
    t = proc_figures(st["pid"]) if st else (None, None)
    s = proc_figures(serve.proc.pid)
    return {"template_pid": st["pid"] if st else None, "template_fds": t[0],
            "template_rss_kb": t[1], "serve_fds": s[0], "serve_rss_kb": s[1],
            "slab_kb": m["Slab"], "sunreclaim_kb": m["SUnreclaim"],
            "mem_available_kb": m["MemAvailable"]}


def show(label, f):
    print(f"{label}: template pid {f['template_pid']}: {f['template_fds']} fds, RSS "
          f"{f['template_rss_kb']} kB; serve: {f['serve_fds']} fds, RSS {f['serve_rss_kb']} kB; "
          f"host Slab {f['slab_kb']} kB, SUnreclaim {f['sunreclaim_kb']} kB, "
          f"MemAvailable {f['mem_available_kb']} kB", flush=True)


def grew(what, a, b, tol):
    return f"{what} grew from {a} to {b} (tolerance +{tol})" if b - a > tol else None


def main():
    random.seed(SEED)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come here, to be reaped
    if not os.access(FN_ELF, os.R_OK):
        print(f"soak: FAIL: no {FN_ELF}: run make all")
        return 1
    base = tempfile.mkdtemp(prefix="hf-soak.")
    os.environ["HYPERFORK_RUN_DIR"] = base
    taps_before = taps()
    print(f"soak: {SECONDS:g} s, {CLIENTS} clients, pool {POOL}, {TEMPLATE_KILLS} template "
          f"kills, seed {SEED}, run dir {base}", flush=True)
    serve = Serve(base)
    threading.Thread(target=reaper, daemon=True).start()
    if not serve.wait_ready(1, 120 * SCALE):
        print(f"soak: FAIL: the function never became ready (serve status {serve.proc.poll()}); "
              "serve said:")
        print(open(os.path.join(base, "serve.err")).read()[-3000:])
        serve.proc.kill()
        return 1
    clones = Clones()
    # Warm-up: a few hundred invocations, then a quiet moment for the first figures.
    threads = [threading.Thread(target=client, args=(serve, k)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(min(10, SECONDS / 10) * SCALE / 10 * 2)
    st = quiet(serve, clones, CLIENTS)
    start = figures(serve, st)
    show("start", start)
    with lock:
        ok0, fails0 = stats["ok"], sum(stats["failures"].values())
    pause.clear()
    t0 = time.time()
    t_end = t0 + SECONDS
    ch = threading.Thread(target=chaos, args=(serve, t_end))
    ch.start()
    mid = None
    last_print = t0
    while time.time() < t_end:
        time.sleep(0.5)
        clones.poll(serve)
        if mid is None and time.time() - t0 >= 0.75 * SECONDS:
            st = quiet(serve, clones, CLIENTS)
            mid = figures(serve, st)
            show("at 75%", mid)
            pause.clear()
        if time.time() - last_print >= 60:
            last_print = time.time()
            with lock:
                print(f"  {time.time() - t0:.0f} s: {clones.total()} clones, {stats['ok']} "
                      f"invocations answered, {sum(stats['failures'].values())} failed",
                      flush=True)
    elapsed = time.time() - t0
    stop.set()
    ch.join()
    for t in threads:
        t.join()
    stop.clear()
    st = quiet(serve, clones, 0)
    end = figures(serve, st)
    show("end", end)
    pause.clear()

    problems = []
    with lock:
        ok = stats["ok"] - ok0
        failed = dict(stats["failures"])
    made = clones.total()
    print(f"clones made: {made} in {elapsed:.0f} s ({made / elapsed:.1f}/s); invocations "
          f"answered right: {stats['ok']} ({ok} after the warm-up); failed: "
          f"{sum(failed.values())} ({sum(failed.values()) - fails0} after the warm-up)")
    print(f"kills: {stats['clone_kills']} clones (SIGKILL), {stats['template_kills']} templates "
          f"mid-activation (booted again: {stats['template_ready'] - 1}), "
          f"{stats['client_kills']} clients mid-request; orphans reaped: {stats['orphans_reaped']}")
    print("failures by cause:" + ("" if failed else " none"))
    for cause, n in sorted(failed.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {cause}")

    # The template compared is the one that ran to the end, from its first quiet moment.
    ref = start if start["template_pid"] == end["template_pid"] else mid
    if end["template_pid"] is None:
        problems.append("no template at the end (its status did not answer)")
    elif ref is None or ref["template_pid"] != end["template_pid"]:
        problems.append("the template that ran to the end had no quiet moment to compare from "
                        "(killed after 75% of the run?)")
    else:
        rss_tol = max(TOL_RSS_KB, int(ref["template_rss_kb"] * TOL_RSS_FRAC))
        problems += [grew("template fds", ref["template_fds"], end["template_fds"], TOL_FDS),
                     grew("template RSS kB", ref["template_rss_kb"], end["template_rss_kb"],
                          rss_tol)]
    rss_tol = max(TOL_RSS_KB, int(start["serve_rss_kb"] * TOL_RSS_FRAC))
    problems += [grew("serve fds", start["serve_fds"], end["serve_fds"], TOL_FDS),
                 grew("serve RSS kB", start["serve_rss_kb"], end["serve_rss_kb"], rss_tol),
                 grew("host Slab kB", start["slab_kb"], end["slab_kb"], TOL_SLAB_KB),
                 grew("host SUnreclaim kB", start["sunreclaim_kb"], end["sunreclaim_kb"],
                      TOL_SUNRECLAIM_KB)]
    if made < 1:
        problems.append("no clone was made")

    # Left behind, load stopped: zombies among what we started, stale sockets.
    zombies = [p for p in descendants(os.getpid()) if state_of(p) == "Z"]
    if zombies:
        problems.append(f"zombie processes: {zombies}")
    stale = []
    def sockets():  # in the functions' own directories, serve.XXXXXX/NAME
        return glob.glob(os.path.join(serve.dir, "*", "*.sock")) + \
            glob.glob(os.path.join(serve.dir, "*", "*.fn"))
    for path in sockets():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            stale.append(os.path.basename(path))
        finally:
            s.close()
    if stale:
        problems.append(f"{len(stale)} stale socket(s) in serve's run directory: "
                        f"{' '.join(sorted(stale)[:10])}")
    print(f"sockets in serve's run directory at rest: "
          f"{' '.join(sorted(os.path.basename(p) for p in sockets()))}")

    # Serve stopped: nothing of it may stay.
    serve.proc.send_signal(signal.SIGTERM)
    try:
        serve.proc.wait(timeout=60 * SCALE)
    except subprocess.TimeoutExpired:
        problems.append("serve did not stop within %d s of SIGTERM" % (60 * SCALE))
        serve.proc.kill()
    time.sleep(1 * SCALE)
    left = [p for p in descendants(os.getpid()) if state_of(p) not in ("Z", None)]
    if left:
        problems.append(f"processes left after serve stopped: {left}")
    if os.path.exists(serve.dir):
        problems.append(f"serve's run directory {serve.dir} is left: "
                        f"{' '.join(os.listdir(serve.dir)[:10])}")
    if taps() != taps_before:
        problems.append(f"tap devices left: {sorted(set(taps()) - set(taps_before))}")
    stats["reaper_done"] = True
    stop.set()

    problems = [p for p in problems if p]
    if problems:
        for p in problems:
            print(f"soak: FAIL: {p}")
        print(f"soak: logs in {base}")
        return 1
    print(f"soak: PASS: {made} clones; fds, RSS and slab within tolerance (fds +{TOL_FDS}, "
          f"RSS +{TOL_RSS_KB // 1024} MiB or {TOL_RSS_FRAC:.0%}, Slab +{TOL_SLAB_KB // 1024} MiB, "
          f"SUnreclaim +{TOL_SUNRECLAIM_KB // 1024} MiB); no zombie, stale socket or tap left")
    subprocess.run(["rm", "-rf", base])
    return 0


if __name__ == "__main__":
    sys.exit(main())
