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
# the management API: a create with a tiny zip (one entry, app.py), a list, a get, an update
import base64 as _b64, io as _io, zipfile as _zf
_buf = _io.BytesIO()
with _zf.ZipFile(_buf, "w") as _z:
    _z.writestr("app.py", "def handler(e, c): return e\n")
_create = ('{"FunctionName":"g","Runtime":"python3.11","Handler":"app.handler","Role":"r",'
           '"Code":{"ZipFile":"%s"}}' % _b64.b64encode(_buf.getvalue()).decode())
put("fuzz_serve_http", "create", "POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n"
    "Content-Length: %d\r\n\r\n%s" % (len(_create), _create))
put("fuzz_serve_http", "manage", "GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n\r\n"
    "GET /2015-03-31/functions/f/configuration HTTP/1.1\r\nHost: x\r\n\r\n"
    "PUT /2015-03-31/functions/f/configuration HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n"
    "{\"MemorySize\":512}DELETE /2015-03-31/functions/f HTTP/1.1\r\nHost: x\r\n\r\n")
# layers: a publish (a zip of python/helper.py), the lists, a get, a function with the layer
# (and one named that is not there), a delete
_buf = _io.BytesIO()
with _zf.ZipFile(_buf, "w") as _z:
    _z.writestr("python/helper.py", "VALUE = 1\n")
_publish = ('{"Description":"d","CompatibleRuntimes":["python3.11"],"LicenseInfo":"MIT",'
            '"CompatibleArchitectures":["x86_64"],"Content":{"ZipFile":"%s"}}'
            % _b64.b64encode(_buf.getvalue()).decode())
put("fuzz_serve_http", "layer", "POST /2018-10-31/layers/dep/versions HTTP/1.1\r\nHost: x\r\n"
    "Content-Length: %d\r\n\r\n%s" % (len(_publish), _publish) +
    "GET /2018-10-31/layers HTTP/1.1\r\nHost: x\r\n\r\n"
    "GET /2018-10-31/layers/dep/versions HTTP/1.1\r\nHost: x\r\n\r\n"
    "GET /2018-10-31/layers/arn:aws:lambda:us-east-1:000000000000:layer:dep/versions/1 HTTP/1.1\r\n"
    "Host: x\r\n\r\n")
_layered = _create.replace('"FunctionName":"g"', '"FunctionName":"h","Layers":['
                           '"arn:aws:lambda:us-east-1:000000000000:layer:dep:1",'
                           '"arn:aws:lambda:us-east-1:000000000000:layer:nope:2"]')
put("fuzz_serve_http", "layered", "POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n"
    "Content-Length: %d\r\n\r\n%s" % (len(_layered), _layered) +
    "DELETE /2018-10-31/layers/dep/versions/1 HTTP/1.1\r\nHost: x\r\n\r\n")
put("fuzz_serve_http", "wrong", "GET %s HTTP/1.1\r\nHost: x\r\n\r\nPUT /nope HTTP/1.0\r\n\r\n" % inv)

# the function device: what a client sends on a VM's .fn socket
put("fuzz_fnport", "invoke", "INVOKE 6f1c-22 1700000000123 arn:aws:lambda:us-east-1:0:function:f - 4 7 1700000000000000\nctx!{\"a\":1}")
put("fuzz_fnport", "noctx", "INVOKE id 1 arn - 0 0 1\n")
put("fuzz_fnport", "short", "INVOKE id 1 arn - 0 10 1\n{}")
put("fuzz_fnport", "bad", "INVOKE  id 1\n")
put("fuzz_fnport", "worker", "WORKER\nINVOKE id 1 arn - 0 2 1\n{}")

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


# virtio-net: a driver's program (see fuzz_virtio_net.c): frames transmitted (whole, split
# header, a chain shorter than the header), frames from the host (more than the buffers,
# one too large), receive buffers given back, a scribble and a register write
def net_tx(payload, s1=12, s2=12, hdr=bytes(12), short=False):
    d0 = (0x80 | s1) if short else s1
    body = hdr + payload
    return bytes([2, d0, s2]) + struct.pack("<H", len(body)) + body


def net_host(frame):
    return bytes([3]) + struct.pack("<H", len(frame)) + frame


def net_rx_buffer(k, length, cut):
    return bytes([4, k, cut // 32]) + struct.pack("<H", length)


eth = b"\xff" * 6 + b"\x02\x48\x46\x00\x00\x01" + b"\x08\x06" + bytes(range(28))
put("fuzz_virtio_net", "tx", net_tx(eth) + net_tx(eth * 3, 5, 40) + net_tx(b"", 0, 0) +
    net_tx(eth, 3, 0, short=True))
put("fuzz_virtio_net", "rx", b"".join(net_host(eth + bytes([i])) for i in range(6)) +
    net_rx_buffer(0, 2060, 64) + net_rx_buffer(1, 30, 0) + bytes([5, 0]) +
    net_host(bytes(3000)) + net_host(b""))
put("fuzz_virtio_net", "both", net_host(eth) + net_tx(eth) + net_rx_buffer(0, 100, 12) +
    net_host(eth) + bytes([5, 1]))
put("fuzz_virtio_net", "hostile", net_tx(eth) + bytes([1, 0x00, 0x50, 4]) + b"\xff\xff\x00\x00" +
    net_tx(eth) + bytes([0, 0x70]) + struct.pack("<I", 0) + net_host(eth))


# virtio-blk: the disk's mode, then a driver's program (see fuzz_virtio_blk.c)
def blk_req(t, sector, length, layout=0, cut=0, data=b""):
    return bytes([2, t, sector]) + struct.pack("<H", length) + bytes([layout, cut]) + data


for mode, name in enumerate(["cow", "ro", "persist"]):
    put("fuzz_virtio_blk", name, bytes([mode]) +
        blk_req(0, 0, 512) +                                  # read sector 0
        blk_req(1, 3, 1024, data=bytes(range(256)) * 4) +     # write sectors 3-4
        blk_req(0, 3, 1536, layout=16, cut=7) +               # read them back, split
        blk_req(0, 0xf0, 512) + blk_req(0, 63, 1024) +        # past the end: IOERR
        blk_req(1, 0xf6, 512, data=b"x" * 512) +              # a sector that overflows
        blk_req(2, 0, 0) + blk_req(3, 0, 20) + blk_req(3, 0, 8, layout=32) +  # flush, get-id
        blk_req(0x82, 0, 16) +                                # an unsupported type
        blk_req(1, 1, 512, layout=8, data=b"y" * 512) +       # header in two descriptors
        blk_req(0, 1, 512, layout=3))                         # a 24-byte header
    put("fuzz_virtio_blk", name + "-broken", bytes([mode]) + blk_req(0, 0, 512, layout=4) +
        blk_req(0, 0, 512))                                   # an 8-byte header: stopped
put("fuzz_virtio_blk", "nostatus", bytes([0]) + blk_req(1, 0, 512, layout=128, data=bytes(512)))
put("fuzz_virtio_blk", "reset", bytes([2]) + blk_req(1, 0, 512, data=b"z" * 512) +
    bytes([0, 0x70]) + struct.pack("<I", 0) + bytes([3, 0]))


# hf-lambda's Runtime API: init over or not, then a program (see fuzz_runtime_api.c)
API = "/2018-06-01/runtime/"


def rt_send(data):
    data = data.encode() if isinstance(data, str) else data
    return bytes([1]) + struct.pack("<H", len(data)) + data


def rt_host(data):
    data = data.encode() if isinstance(data, str) else data
    return bytes([4]) + struct.pack("<H", len(data)) + data


NEXT = "GET %sinvocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n" % API
INVOKE = "INVOKE 8f3c-01 1700000000123 arn:aws:lambda:us-east-1:0:function:f Root=1-2 12 9 " \
    "1700000000000000\n" \
    "eyJhIjoxfQ=={\"k\":\"v\"}"


def rt_post(path, body, headers=""):
    return "POST %s%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (
        API, path, headers, len(body), body)


put("fuzz_runtime_api", "response", bytes([1]) + rt_host(INVOKE) + bytes([0]) + rt_send(NEXT) +
    rt_send(rt_post("invocation/8f3c-01/response", '{"ok":true}')))
put("fuzz_runtime_api", "error", bytes([1]) + bytes([0]) + rt_send(NEXT) +
    rt_host("INVOKE id-2 1 arn - 0 2 1\n{}") + rt_send(rt_post(
        "invocation/id-2/error", '{"errorMessage":"boom","errorType":"Handled"}',
        "Lambda-Runtime-Function-Error-Type: Handled.Err\r\n")))
put("fuzz_runtime_api", "chunked", bytes([1]) + rt_host(INVOKE) + bytes([0]) + rt_send(NEXT) +
    rt_send("POST %sinvocation/8f3c-01/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
            "\r\nExpect: 100-continue\r\n\r\n" % API) +
    rt_send("4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nTrailer: x\r\n\r\n"))
put("fuzz_runtime_api", "init-error", bytes([0]) + bytes([0]) + rt_send(rt_post(
    "init/error", '{"errorMessage":"no module","errorType":"Runtime.ImportModuleError"}',
    "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n")))
put("fuzz_runtime_api", "wrong", bytes([1]) + bytes([0]) +
    rt_send(rt_post("invocation/nobody/response", "{}") +       # 403: no invocation
            "PUT %sinvocation/next HTTP/1.1\r\n\r\n" % API +    # 405
            "GET /2018-06-01/nope HTTP/1.0\r\n\r\n") +          # 404, closes
    bytes([0]) + rt_host(INVOKE) + rt_send(NEXT) +
    rt_send(rt_post("invocation/other/response", "{}")) +      # 400 InvalidRequestID
    rt_send(NEXT) + bytes([3]) + bytes([5]))                   # 403; the host gives up
put("fuzz_runtime_api", "pieces", bytes([1]) + rt_host(INVOKE[:20]) + rt_host(INVOKE[20:]) +
    bytes([0]) + b"".join(rt_send(NEXT[i:i + 7]) for i in range(0, len(NEXT), 7)) +
    bytes([0]) + rt_send(rt_post("invocation/8f3c-01/response", "x" * 3000)))

# ttrpc (the containerd shim's codec): the first byte cuts the rest into reads of (byte+1)
# bytes; the rest is what a client sends: frames of a 10-byte header and a ttrpc.Request
def pb_varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_field(num, value):
    if isinstance(value, int):
        return pb_varint(num << 3) + pb_varint(value)
    value = value.encode() if isinstance(value, str) else value
    return pb_varint(num << 3 | 2) + pb_varint(len(value)) + value


def ttrpc_frame(stream, body, mtype=1, flags=0):
    return struct.pack(">IIBB", len(body), stream, mtype, flags) + body


def ttrpc_request(stream, method, payload=b"", service="containerd.task.v2.Task", meta=()):
    body = pb_field(1, service) + pb_field(2, method) + pb_field(3, payload)
    body += pb_field(4, 1000000000)
    for k, v in meta:
        body += pb_field(5, pb_field(1, k) + pb_field(2, v))
    return ttrpc_frame(stream, body)


_create = (pb_field(1, "c1") + pb_field(2, "/run/containerd/b/c1") + pb_field(3, pb_field(1, "overlay")
           + pb_field(2, "/src") + pb_field(4, "ro")) + pb_field(6, "/run/fifo.out"))
_ns = [("containerd-namespace-ttrpc", "k8s.io")]
put("fuzz_ttrpc", "create", b"\xff" + ttrpc_request(1, "Create", _create, meta=_ns))
put("fuzz_ttrpc", "many", b"\x02" + ttrpc_request(1, "Create", _create) + ttrpc_request(3, "Wait", pb_field(1, "c1"))
    + ttrpc_request(5, "Kill", pb_field(1, "c1") + pb_field(3, 9)) + ttrpc_request(7, "Checkpoint")
    + ttrpc_request(9, "State", pb_field(1, "c1"), service="other") + ttrpc_request(10, "State"))
put("fuzz_ttrpc", "update", b"\x10" + ttrpc_request(11, "Update", pb_field(1, "c1") + pb_field(
    3, pb_field(1, "io.hyperfork.template") + pb_field(2, "fn"))))
put("fuzz_ttrpc", "types", b"\x00" + ttrpc_frame(1, pb_field(1, pb_field(1, 5) + pb_field(2, "x")), 2)
    + ttrpc_frame(3, b"abc", 3, 1) + ttrpc_frame(5, b"", 0) + ttrpc_request(7, "State", b"\x0a\x7f"))
put("fuzz_ttrpc", "too_long", b"\x40" + struct.pack(">IIBB", (4 << 20) + 1, 1, 1, 0) + bytes(64)
    + ttrpc_request(3, "State"))
put("fuzz_ttrpc", "bad_request", b"\x03" + ttrpc_frame(1, b"\x0a\x40s") + ttrpc_frame(3, b"\xff" * 12))
