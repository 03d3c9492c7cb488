#!/usr/bin/python3
"""The host's side of include/hyperfork/lambda.h, for the tests: what `hyperfork serve` does
with each invocation. Connects to a VM's vsock socket UDS (Firecracker's hybrid model:
"CONNECT 9000\\n", answered "OK HOSTPORT\\n": vsock_host.py's hybrid_connect), sends one INVOKE
and reads the agent's answer.

  lambda_host.py invoke UDS [OPTIONS] [PAYLOAD_FILE]
      Sends "INVOKE <id> <deadline-ms> <arn> <trace-id> <ctx-len> <payload-len> <now-us>\\n", the
      client context and the payload (PAYLOAD_FILE, "-" or none: stdin). Prints the answer's
      header line ("RESPONSE LEN", "ERROR LEN TYPE" or "INIT_ERROR LEN TYPE"), then its body,
      on stdout (with --body FILE the body goes to FILE and only the line is printed).
      Options: --id ID (default: a random UUID), --deadline MS (default: now + 300 s),
      --arn ARN, --trace ID (default "-"), --ctx BASE64 (X-Amz-Client-Context, default none),
      --timeout SECONDS (default 300), --direct (UDS is the agent's own Unix socket,
      HF_LAMBDA_LISTEN: no CONNECT line).
      Exit 0: a well-formed answer, its length right and nothing after it before the agent
      closed the connection. 3: the VMM closed the socket without OK (nothing listens on the
      guest's port 9000). 4: the connection ended without a whole answer. 1: anything else
      (named on stderr).
  lambda_host.py raw UDS [--direct] [--timeout SECONDS]
      stdin as it is to the guest's port 9000, then what comes back to stdout until the agent
      closes the connection (exit 0; 3 as above). For malformed requests.
"""
import argparse
import re
import socket
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from vsock_host import NoListener, hybrid_connect  # the CONNECT handshake

PROG = "lambda_host"
PORT = 9000
LINE_MAX = 512
MAX_PAYLOAD = 6 * 1024 * 1024


def die(msg, status=1):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    sys.exit(status)


def connect(uds, direct, timeout):
    if direct:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(uds)
        return s
    try:
        return hybrid_connect(uds, PORT, timeout)
    except NoListener as e:
        die(f"{uds}: {e} (nothing listens on port {PORT})", 3)


def recv_exact(s, n, what):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(n - len(buf), 1 << 20))
        if not d:
            die(f"the connection ended after {len(buf)} of the {n} bytes of {what}", 4)
        buf += d
    return bytes(buf)


def cmd_invoke(a):
    payload = sys.stdin.buffer.read() if a.payload in (None, "-") else open(a.payload, "rb").read()
    ctx = a.ctx.encode() if a.ctx else b""
    rid = a.id or str(uuid.uuid4())
    deadline = a.deadline or str(int(time.time() * 1000) + 300000)
    now_us = time.time_ns() // 1000
    head = f"INVOKE {rid} {deadline} {a.arn} {a.trace} {len(ctx)} {len(payload)} {now_us}\n".encode()
    s = connect(a.uds, a.direct, a.timeout)
    try:
        s.sendall(head + ctx + payload)
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                die(f"the connection ended without an answer" + (f" (after {line!r})" if line else ""), 4)
            line += c
            if len(line) > LINE_MAX:
                die(f"answer line over {LINE_MAX} bytes: {line[:80]!r}...")
        m = re.fullmatch(rb"(RESPONSE) (0|[1-9][0-9]*)\n|(ERROR|INIT_ERROR) (0|[1-9][0-9]*) ([\x21-\x7e]+)\n", line)
        if not m:
            die(f"malformed answer line {line!r}")
        n = int(m.group(2) or m.group(4))
        if n > MAX_PAYLOAD:
            die(f"answer of {n} bytes, over {MAX_PAYLOAD}")
        body = recv_exact(s, n, "the answer")
        extra = s.recv(65536)
        if extra:
            die(f"{len(extra)} bytes after the answer: {extra[:80]!r}")
    except socket.timeout:
        die(f"no answer within {a.timeout} s", 4)
    except OSError as e:
        die(f"connection: {e}", 4)
    if a.body:
        with open(a.body, "wb") as f:
            f.write(body)
        sys.stdout.buffer.write(line)
    else:
        sys.stdout.buffer.write(line + body)
    sys.stdout.flush()


def cmd_raw(a):
    data = sys.stdin.buffer.read()
    s = connect(a.uds, a.direct, a.timeout)
    try:
        s.sendall(data)
        while True:
            d = s.recv(65536)
            if not d:
                break
            sys.stdout.buffer.write(d)
    except socket.timeout:
        die(f"the agent did not close the connection within {a.timeout} s", 4)
    except OSError as e:
        die(f"connection: {e}", 4)
    sys.stdout.flush()


def main():
    usage = __doc__.split("\n\n", 1)[1]
    if len(sys.argv) < 2 or sys.argv[1] not in ("invoke", "raw"):
        print("usage:\n" + usage, file=sys.stderr, end="")
        sys.exit(2)
    p = argparse.ArgumentParser(prog=f"{PROG} {sys.argv[1]}", usage=usage)
    p.add_argument("uds")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--direct", action="store_true")
    if sys.argv[1] == "invoke":
        p.add_argument("payload", nargs="?")
        p.add_argument("--id")
        p.add_argument("--deadline")
        p.add_argument("--arn", default="arn:aws:lambda:us-east-1:123456789012:function:test")
        p.add_argument("--trace", default="-")
        p.add_argument("--ctx")
        p.add_argument("--body")
    a = p.parse_intermixed_args(sys.argv[2:])
    try:
        (cmd_invoke if sys.argv[1] == "invoke" else cmd_raw)(a)
    except OSError as e:
        die(str(e))


if __name__ == "__main__":
    main()
