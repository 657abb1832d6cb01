#!/usr/bin/python3
"""A minimal cocoon-agent client for VMM tests: connects through cocoon-vmm's hybrid vsock
socket (argv[1], "CONNECT 1024"; "unix:PATH" for an agent run with --listen), retrying until the agent listens (up to 120 s), then
calls each method named in argv[2:] over ttrpc and prints one line per answer:
  hello   -> "hello kernel=RELEASE boot_id=ID"
  reseed  -> "reseed clock_set=0|1 clock_step_ns=N"  (64 bytes of os.urandom, host time)
  mount   -> "mount ok"  (MountShared)
An error answer prints "error CODE MESSAGE" and the exit status is 1. Protobuf is
encoded by hand: these messages are a few scalar fields (proto/agent.proto)."""
import os, socket, struct, sys, time

SERVICE = "cocoon.agent.v1.Agent"


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, value):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(value)
    return key + varint(len(value)) + value


def parse(buf):
    """Fields of a message: {number: [values]} (varints as ints, the rest as bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        out.setdefault(num, []).append(v)
    return out


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def connect(path, deadline):
    if path.startswith("unix:"):  # an agent serving --listen unix:PATH: no handshake
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path[5:])
        return s
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            s.sendall(b"CONNECT 1024\n")
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    raise ConnectionError("closed")
                line += c
            if line.startswith(b"OK "):
                return s
        except OSError:
            pass
        s.close()
        if time.time() > deadline:
            sys.exit("agent_client: no agent on vsock port 1024 through %s" % path)
        time.sleep(0.2)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            raise ConnectionError("agent closed the connection")
        buf += c
    return buf


def call(s, stream, method, payload):
    req = field(1, 2, SERVICE.encode()) + field(2, 2, method.encode()) + field(3, 2, payload)
    s.sendall(struct.pack(">IIBB", len(req), stream, 1, 0) + req)
    length, sid, typ, _ = struct.unpack(">IIBB", recv_exact(s, 10))
    resp = parse(recv_exact(s, length))
    status = parse(resp.get(1, [b""])[0])
    code = status.get(1, [0])[0]
    if code:
        msg = status.get(2, [b""])[0].decode()
        print("error %d %s" % (code, msg), flush=True)
        return None
    return parse(resp.get(2, [b""])[0])


def main():
    s = connect(sys.argv[1], time.time() + 120)
    rc, stream = 0, 1
    for cmd in sys.argv[2:]:
        if cmd == "hello":
            r = call(s, stream, "Hello", field(1, 0, 1))
            if r is not None:
                print("hello kernel=%s boot_id=%s" % (r.get(2, [b""])[0].decode(),
                                                      r.get(5, [b""])[0].decode()), flush=True)
        elif cmd == "reseed":
            r = call(s, stream, "Reseed",
                     field(1, 2, os.urandom(64)) + field(2, 0, time.time_ns()))
            if r is not None:
                step = r.get(1, [0])[0]
                if step >= 1 << 63:
                    step -= 1 << 64
                print("reseed clock_set=%d clock_step_ns=%d" % (r.get(2, [0])[0], step),
                      flush=True)
        elif cmd == "mount":
            r = call(s, stream, "MountShared", b"")
            if r is not None:
                print("mount ok", flush=True)
        else:
            sys.exit("agent_client: unknown command %s" % cmd)
        rc |= r is None
        stream += 2
    sys.exit(rc)


main()
