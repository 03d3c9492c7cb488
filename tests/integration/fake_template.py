#!/usr/bin/env python3
"""A stand-in for a HyperFork template's control socket, for test_shim.sh where there is no
KVM (SHIM_NATIVE_ONLY=1): it answers `fork` as a template does (api/proto.h) with a "clone"
that is a process of its own: it writes "task: clone N counter 1" to RUN_DIR/NAME.N.console,
runs MS milliseconds (0: until killed), writes EXIT to RUN_DIR/NAME.N.exit (as a VMM run with
--exit-files) and ends with it. pause and resume answer ok (the process is stopped and
continued). Usage: fake_template.py RUN_DIR NAME EXIT MS"""
import ctypes, json, os, signal, socket, subprocess, sys

run_dir, name, code, ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
path = os.path.join(run_dir, name + ".sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(16)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the template reaps its clones
n = 0
clones = {}
# A "VMM" is named hyperfork (its comm), as the shim's delete checks before killing one.
sh = os.path.join(run_dir, "hyperfork")
try:
    os.symlink("/bin/sh", sh)
except FileExistsError:
    pass
while True:
    c, _ = srv.accept()
    line = c.makefile().readline()
    req = json.loads(line or "{}")
    cmd = req.get("cmd")
    if cmd == "fork":
        n += 1
        cname = "%s.%d" % (name, n)
        console = os.path.join(run_dir, cname + ".console")
        exitf = os.path.join(run_dir, cname + ".exit")
        run = "sleep %g" % (ms / 1000) if ms else "while :; do sleep 1; done"
        script = ('echo "task: clone %d counter 1" > %s; %s; echo %d > %s; '
                  'echo "task: clone %d exits %d" >> %s; exit %d'
                  % (n, console, run, code, exitf, n, code, console, code))
        p = subprocess.Popen([sh, "-c", script], start_new_session=True)
        clones[cname] = p.pid
        ans = {"ok": True, "clones": [{"name": cname, "pid": p.pid, "socket": "",
                                       "console": console, "on_demand": False}]}
        # the clone's own control socket: pause and resume go there
        s2 = os.path.join(run_dir, cname + ".sock")
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: ends with the template
            srv.close()
            cs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            cs.bind(s2)
            cs.listen(4)
            while True:
                k, _ = cs.accept()
                r = json.loads(k.makefile().readline() or "{}")
                if r.get("cmd") in ("pause", "resume"):
                    try:
                        os.kill(p.pid, signal.SIGSTOP if r["cmd"] == "pause" else signal.SIGCONT)
                    except OSError:
                        pass
                try:
                    k.sendall((json.dumps({"ok": True}) + "\n").encode())
                except OSError:
                    pass
                k.close()
    else:
        ans = {"ok": True}
    try:
        if line:  # (the shim's Create only connects, to see that the template is there)
            c.sendall((json.dumps(ans) + "\n").encode())
    except OSError:
        pass
    c.close()
