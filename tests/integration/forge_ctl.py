#!/usr/bin/python3
"""A clone taken over, as test_jail simulates it: run as a function's uid, it puts its own
sockets where serve looks for the function's template (DIR/NAME.sock) and for a clone's
agent (DIR/NAME.77.fn), and answers a fork request with a clone of its own naming (NAME.77,
pid PID: a real process below the template). It writes to LOG each request line it reads
and each connection to the agent socket: serve must not talk to either.

usage: forge_ctl.py DIR NAME PID LOG"""
import json
import os
import select
import socket
import sys

d, name, pid, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def listen(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


ctl = listen(os.path.join(d, name + ".sock"))
agent = listen(os.path.join(d, name + ".77.fn"))
out = open(log, "a", buffering=1)
out.write("listening\n")
reply = {"ok": True, "clones": [{"name": name + ".77", "pid": pid, "socket": "",
                                 "console": "", "on_demand": False}]}
while True:
    ready, _, _ = select.select([ctl, agent], [], [])
    for s in ready:
        c, _ = s.accept()
        if s is agent:
            out.write("agent connection\n")
            c.close()
            continue
        c.settimeout(5)
        try:
            line = c.makefile().readline()
        except OSError:
            line = ""
        if line:
            out.write("request " + line)
            c.sendall((json.dumps(reply) + "\n").encode())
        else:
            out.write("connection without a request\n")
        c.close()
