#!/usr/bin/python3
"""The host's side of a VM's vsock, for the tests and benchmarks. Firecracker's hybrid model:
the VMM listens on a Unix socket UDS; a host program connects to it, writes "CONNECT PORT\\n",
reads back "OK HOSTPORT\\n", and from then on has a byte stream to the guest's listener on PORT
(with nothing listening there, the VMM closes the socket without OK). The guest's
connections to CID 2 port P reach a Unix listener the host made at UDS_P.

  vsock_host.py connect UDS PORT
      stdin -> the guest's PORT (shut down for writing at stdin's end), the stream -> stdout,
      until the guest ends it. Exit 0 at the end of the stream; 3 if the VMM closed the
      socket without OK; 1 on any other failure, named on stderr.
  vsock_host.py listen PATH... [-- CMD ARG...]
      Unix listeners at each PATH (UDS_P for the guest's CID 2 port P), serving for ever:
      each connection runs CMD with the stream as its stdin and stdout (default: an echo).
      Prints "LISTENING PATH" on stderr once they listen, then "PATH: connection N" as the
      Nth connection to PATH is accepted.
  vsock_host.py hold PATH...
      The same listeners, but each connection is accepted and held open without ever being
      read (a host program that takes nothing: the guest's credit runs out), until this
      process ends; its connections then close, with what was not read. On SIGUSR1 it
      prints "PATH: connection N: B bytes unread" for each connection it holds.
  vsock_host.py many UDS PORT N SIZE
      N connections to the guest's echo listener on PORT, all open at once, then SIZE random
      bytes sent on each at once; each must get its own bytes back. Exit 0 if all did.
  vsock_host.py rtt ADDR PORT COUNT
      COUNT one-byte round trips on one connection to an echo listener; prints
      "rtt_us p50 P50 p99 P99 n COUNT". ADDR: vsock:UDS (PORT is the guest's vsock port) or
      tcp:HOST.
  vsock_host.py tput ADDR PORT MIB
      MIB MiB sent to a listener that reads to the end of the stream and then answers
      "done"; prints "tput_mib_s RATE mib MIB seconds SECONDS" (from the connection made to
      the answer).
"""
import fcntl
import os
import random
import re
import select
import signal
import socket
import subprocess
import struct
import sys
import termios
import threading
import time

PROG = "vsock_host"


class NoListener(Exception):
    pass


def die(msg, status=1):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    sys.exit(status)


def hybrid_connect(uds, port, timeout=None):
    """A stream to the guest's PORT through the VMM's socket UDS (blocking, or with TIMEOUT
    seconds for each operation)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):  # byte by byte: nothing of the stream is read here
        try:
            c = s.recv(1)
        except OSError as e:
            raise NoListener(f"the VMM ended the connection before OK ({e.strerror})")
        if not c:
            raise NoListener("the VMM closed the connection without OK" +
                             (f" after {line!r}" if line else ""))
        line += c
        if len(line) > 64:
            break
    if not re.fullmatch(rb"OK [0-9]+\n", line):
        raise OSError(f"the VMM answered {line!r}, expected 'OK HOSTPORT'")
    return s


def open_addr(addr, port):
    if addr.startswith("vsock:"):
        return hybrid_connect(addr[6:], port)
    if addr.startswith("tcp:"):
        s = socket.create_connection((addr[4:], port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    die(f"bad address {addr!r}: vsock:UDS or tcp:HOST")


def write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


def pump(s):
    """stdin -> s, s -> stdout, both at once, so that an echoing peer cannot stall us."""
    s.setblocking(False)
    pending, eof = b"", False
    while True:
        rl = [s] + ([] if pending or eof else [0])
        r, w, _ = select.select(rl, [s] if pending else [], [])
        if 0 in r:
            d = os.read(0, 65536)
            if d:
                pending = d
            else:
                eof = True
                s.shutdown(socket.SHUT_WR)
        if s in w and pending:
            try:
                pending = pending[s.send(pending):]
            except BlockingIOError:
                pass
        if s in r:
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            if not d:
                return
            write_all(1, d)


def cmd_connect(uds, port):
    try:
        s = hybrid_connect(uds, int(port))
    except NoListener as e:
        die(f"{uds}: CONNECT {port}: {e}", 3)
    except OSError as e:
        die(f"{uds}: CONNECT {port}: {e}")
    try:
        pump(s)
    except OSError as e:
        die(f"{uds}: port {port}: {e.strerror or e}")


def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()


def cmd_listen(args, hold=False):
    paths, cmd = (args[:args.index("--")], args[args.index("--") + 1:]) if "--" in args else (args, [])
    if not paths:
        die("listen: no PATH")
    held = []
    servers = {}
    for path in paths:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        srv.bind(path)
        srv.listen(128)
        servers[srv] = [path, 0]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # commands are reaped by the kernel
    if hold:
        def report(*_):
            for c, path, n in held:
                unread = struct.unpack("i", fcntl.ioctl(c, termios.FIONREAD, b"\0" * 4))[0]
                print(f"{path}: connection {n}: {unread} bytes unread", file=sys.stderr, flush=True)
        signal.signal(signal.SIGUSR1, report)
    for path in paths:
        print(f"LISTENING {path}", file=sys.stderr, flush=True)
    while True:
        r, _, _ = select.select(list(servers), [], [])
        for srv in r:
            c, _ = srv.accept()
            servers[srv][1] += 1
            print(f"{servers[srv][0]}: connection {servers[srv][1]}", file=sys.stderr, flush=True)
            if hold:
                held.append((c, servers[srv][0], servers[srv][1]))  # never read
            elif cmd:
                subprocess.Popen(cmd, stdin=c, stdout=c, close_fds=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_DFL))
                c.close()
            else:
                threading.Thread(target=echo, args=(c,), daemon=True).start()


def cmd_many(uds, port, n, size, timeout=600):
    port, n, size = int(port), int(n), int(size)
    conns = []
    for i in range(n):  # every connection is made, and stays open, before any data flows
        try:
            conns.append(hybrid_connect(uds, port))
        except (NoListener, OSError) as e:
            die(f"connection {i + 1} of {n}: {e}")
    rnd = random.Random(os.getpid())
    data = [rnd.randbytes(size) for _ in range(n)]
    sent = [0] * n
    back = [bytearray() for _ in range(n)]
    ended = [False] * n
    errors = {}
    for s in conns:
        s.setblocking(False)
    end = time.monotonic() + timeout
    while not all(ended) and time.monotonic() < end:
        wl = [s for i, s in enumerate(conns) if not ended[i] and sent[i] < size]
        rl = [s for i, s in enumerate(conns) if not ended[i]]
        r, w, _ = select.select(rl, wl, [], 1.0)
        for s in w:
            i = conns.index(s)
            try:
                sent[i] += s.send(data[i][sent[i]:sent[i] + 65536])
                if sent[i] == size:
                    s.shutdown(socket.SHUT_WR)
            except BlockingIOError:
                pass
            except OSError as e:
                errors[i] = f"send: {e.strerror}"
                ended[i] = True
        for s in r:
            i = conns.index(s)
            if ended[i]:
                continue
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                errors[i] = f"receive: {e.strerror}"
                ended[i] = True
                continue
            if d:
                back[i] += d
            else:
                ended[i] = True
    good = 0
    for i in range(n):
        if not ended[i]:
            errors[i] = f"still open after {timeout} s: {sent[i]} bytes sent, {len(back[i])} back"
        elif i not in errors and bytes(back[i]) != data[i]:
            errors[i] = f"{sent[i]} bytes sent, {len(back[i])} came back" + \
                (", different" if len(back[i]) == size else "")
        if i not in errors:
            good += 1
    print(f"{good} of {n} connections got their {size} bytes back unchanged")
    for i in sorted(errors):
        print(f"connection {i + 1}: {errors[i]}")
    sys.exit(0 if good == n else 1)


def cmd_rtt(addr, port, count):
    s = open_addr(addr, int(port))
    count = int(count)
    times = []
    for i in range(count + 10):  # 10 unmeasured first
        t0 = time.perf_counter_ns()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            die(f"round trip {i + 1}: the echo did not answer 'x'")
        t1 = time.perf_counter_ns()
        if i >= 10:
            times.append((t1 - t0) / 1000)
    s.close()
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"rtt_us p50 {p(0.50):.1f} p99 {p(0.99):.1f} n {count}")


def cmd_tput(addr, port, mib):
    mib = int(mib)
    chunk = random.Random(1).randbytes(1 << 20)
    t0 = time.perf_counter()
    s = open_addr(addr, int(port))
    for _ in range(mib):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        d = s.recv(64)
        if not d:
            break
        answer += d
    secs = time.perf_counter() - t0
    if answer.strip() != b"done":
        die(f"the listener answered {answer!r} after {mib} MiB, expected 'done'")
    print(f"tput_mib_s {mib / secs:.1f} mib {mib} seconds {secs:.3f}")


def main(argv):
    cmds = {"connect": (cmd_connect, 2), "many": (cmd_many, 4), "rtt": (cmd_rtt, 3),
            "tput": (cmd_tput, 3)}
    if len(argv) >= 2 and argv[0] == "listen":
        return cmd_listen(argv[1:])
    if len(argv) >= 2 and argv[0] == "hold" and "--" not in argv:
        return cmd_listen(argv[1:], hold=True)
    if argv and argv[0] in cmds and len(argv) == cmds[argv[0]][1] + 1:
        try:
            return cmds[argv[0]][0](*argv[1:])
        except (NoListener, OSError) as e:
            die(str(e))
        except ValueError as e:
            die(f"bad argument: {e}")
    print("usage:\n" + __doc__.split("\n\n", 1)[1], file=sys.stderr, end="")
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
