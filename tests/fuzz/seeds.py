#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets (tests/fuzz/fuzz_*.c), written into DIR/<target>/:
the inputs the unit tests start from. The bare guests' ELFs are added by the Makefile.
   tests/fuzz/seeds.py DIR"""
import os
import struct
import sys

out = sys.argv[1]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# proto: the first byte picks the command whose response follows (6: a request)
for i, line in enumerate([
        '{"cmd":"status"}', '{"cmd":"fork","count":3,"console":"file"}',
        '{"cmd":"template","pool":0}', '{"cmd":"stop"}']):
    put("fuzz_proto", "req%d" % i, b"\x06" + line.encode())
put("fuzz_proto", "status", b"\x00" + b'{"ok":true,"vm":{"name":"a","parent":"","state":"template",'
    b'"kind":"bare","console":"file","console_path":"/r/a.console","net":"","pid":7,"cpus":1,'
    b'"clone_id":0,"clones":2,"mem_bytes":1048576,"uptime_ms":5,"rss_kb":1,"pss_kb":1,'
    b'"private_kb":1,"pool_ready":1,"pool_target":4,"on_demand":2}}')
put("fuzz_proto", "fork", b"\x04" + b'{"ok":true,"warning":"fewer","clones":[{"name":"a.1","pid":9,'
    b'"socket":"/r/a.1.sock","console":"none","on_demand":true}]}')
put("fuzz_proto", "error", b"\x03" + b'{"ok":false,"error":"no such VM"}')

# bzImage: one setup sector and 64 bytes of kernel, protocol 2.15, 64-bit entry
img = bytearray(2 * 512 + 64)
img[0x1f1] = 1
struct.pack_into("<I", img, 0x1f4, 4)            # syssize (16-byte units)
struct.pack_into("<H", img, 0x1fe, 0xAA55)       # boot_flag
img[0x202:0x206] = b"HdrS"
struct.pack_into("<H", img, 0x206, 0x20f)        # version
img[0x211] = 1                                   # loadflags: LOADED_HIGH
struct.pack_into("<I", img, 0x22c, 0x7fffffff)   # initrd_addr_max
struct.pack_into("<I", img, 0x230, 0x200000)     # kernel_alignment
struct.pack_into("<H", img, 0x236, 3)            # xloadflags: KERNEL_64, above 4G
struct.pack_into("<I", img, 0x238, 2047)         # cmdline_size
struct.pack_into("<I", img, 0x260, 0x1000000)    # init_size
put("fuzz_bzimage", "min", bytes(img))

# serve's configuration
put("fuzz_serve_config", "linux", '{"functions":[{"name":"hello","kernel":"bz","initrd":"i.cpio",'
    '"disks":["code.img"],"memory":512,"vcpus":2,"timeout":30,"concurrency":64,"pool":0,'
    '"mode":"warm","handler":"fn.handler","cmdline":"loglevel=1",'
    '"environment":{"A":"1","B_2":"x y"}}]}')
put("fuzz_serve_config", "bare", '{"functions":[{"name":"b","image":"fn.elf","mode":"boot"},'
    '{"name":"c","image":"/abs/fn.elf","pool":64}]}')

# the control server: what one client sends
put("fuzz_control_server", "one", '{"cmd":"status"}\n')
put("fuzz_control_server", "many", '{"cmd":"fork","count":2}\n{"cmd":"status"}\n{"cmd":"pause"}\n'
    '{"cmd":"status"\n{"cmd":"nope"}\n{"cmd":"stop"}\n')
put("fuzz_control_server", "half", '{"cmd":"status"}\n{"cmd":"fo')
put("fuzz_control_server", "long", '{"cmd":"status","x":"' + "a" * 5000 + '"}\n')

# serve's HTTP side: what one client sends
inv = "/2015-03-31/functions/f/invocations"
put("fuzz_serve_http", "invoke", "POST %s HTTP/1.1\r\nHost: x\r\nX-Amz-Invocation-Type: "
    "RequestResponse\r\nX-Amz-Log-Type: Tail\r\nX-Amz-Client-Context: eyJhIjoxfQ==\r\n"
    "Content-Length: 9\r\n\r\n{\"a\":12}\n" % inv)
put("fuzz_serve_http", "dryrun", "POST %s HTTP/1.1\r\nHost: x\r\nX-Amz-Invocation-Type: DryRun\r\n"
    "Content-Length: 2\r\n\r\n{}" % inv)
put("fuzz_serve_http", "arn", "POST /2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:"
    "function:f/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
put("fuzz_serve_http", "chunked", "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n" % inv)
put("fuzz_serve_http", "metrics", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n"
    "Host: x\r\n\r\n")
put("fuzz_serve_http", "wrong", "GET %s HTTP/1.1\r\nHost: x\r\n\r\nPUT /nope HTTP/1.0\r\n\r\n" % inv)

# the function device: what a client sends on a VM's .fn socket
put("fuzz_function", "invoke", "INVOKE 6f1c-22 1700000000123 arn:aws:lambda:us-east-1:0:function:f - 4 7\nctx!{\"a\":1}")
put("fuzz_function", "noctx", "INVOKE id 1 arn - 0 0\n")
put("fuzz_function", "short", "INVOKE id 1 arn - 0 10\n{}")
put("fuzz_function", "bad", "INVOKE  id 1\n")

# virtio-vsock: a driver's program (see fuzz_vsock.c): a REQUEST to the host's port 5000,
# data on it, a CREDIT_REQUEST, a SHUTDOWN; and a register write and a ring scribble
def vsock_pkt(op, payload=b"", src_port=1024, dst_port=5000):
    hdr = struct.pack("<QQIIIHHIII", 3, 2, src_port, dst_port, len(payload), 1, op, 0, 65536, 0)
    data = hdr + payload
    return bytes([2]) + struct.pack("<H", len(data)) + data


put("fuzz_vsock", "stream", vsock_pkt(1) + vsock_pkt(5, b"hello host") + vsock_pkt(7) +
    vsock_pkt(4) + bytes([3, 0]))
put("fuzz_vsock", "scribble", bytes([0, 0x70]) + struct.pack("<I", 0) + bytes([1, 0x10, 0x10, 8]) +
    b"\xff" * 8 + bytes([3, 1]))
