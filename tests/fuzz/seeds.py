#!/usr/bin/python3
"""Writes one valid input per fuzz target into build/fuzz/corpus-<target>/seed, so the
fuzzers start from a well-formed request instead of finding one by chance. Layout (see
tests/fuzz/fuzz.h): 16 header bytes (queue size 8, desc table at 0, avail ring at 0x80,
used ring at 0xa0), then guest RAM; request data lives from 0x100 on."""
import os, struct, sys

W, N = 2, 1  # VIRTQ_DESC_F_WRITE, _NEXT

def image(descs, data):
    ram = bytearray(0x500)
    for i, (addr, length, flags, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", ram, 16 * i, addr, length, flags, nxt)
    struct.pack_into("<HHH", ram, 0x80, 0, 1, 0)  # avail: flags, idx=1, ring[0]=head 0
    for addr, blob in data:
        ram[addr:addr + len(blob)] = blob
    hdr = struct.pack("<BBHHHHH4x", 3, 0, 0, 0x80, 0xA0, 0, 0)
    return hdr + bytes(ram)

seeds = {
    "fuzz_virtqueue": image([(0x100, 16, N, 1), (0x200, 32, W, 0)], []),
    "fuzz_rng": image([(0x100, 64, W, 0)], []),
    "fuzz_blk": image([(0x100, 16, N, 1), (0x200, 512, W | N, 2), (0x400, 1, W, 0)],
                      [(0x100, struct.pack("<IIQ", 0, 0, 1))]),
    "fuzz_vsock": image([(0x100, 49, 0, 0)],
                        [(0x100, struct.pack("<QQIIIHHIII", 3, 2, 1024, 5000, 5, 1, 5, 0, 4096, 0) + b"hello")]),
    "fuzz_console": image([(0x100, 8, 0, 0)], [(0x100, struct.pack("<IHH", 0, 3, 1))]),
    "fuzz_net": image([(0x100, 72, 0, 0)], [(0x10C, b"\xff" * 6 + b"\x02" * 6 + b"\x88\xb5")]),
}
# fuzz_mmio: a count, register operations (offset, size 4, write, value), then RAM with the
# blk read request of the fuzz_blk seed: a driver's whole init, queue setup and kick.
def op(off, val):
    return struct.pack("<HBBI", off, 2, 1, val)

init = [(0x70, 0), (0x70, 3), (0x24, 1), (0x20, 1), (0x70, 11), (0x30, 0), (0x38, 8),
        (0x80, 0), (0x84, 0), (0x90, 0x80), (0x94, 0), (0xA0, 0xA0), (0xA4, 0), (0x44, 1),
        (0x70, 15), (0x50, 0)]
seeds["fuzz_mmio"] = bytes([len(init)]) + b"".join(op(o, v) for o, v in init) + seeds["fuzz_blk"][16:]

# fuzz_snapshot: mode 2 (edit the target's built-in valid image) with one harmless edit
# (the first byte of the magic rewritten as itself).
seeds["fuzz_snapshot"] = bytes([2, 0, 0]) + b"C"

# fuzz_agent_reply: reply selector (5, ReadStream) then two ttrpc response frames on
# stream 1: one with a ReadStreamResponse{data="hi", eof=true}, one with a status
# {code=5, message="no\x1b[2J"} (an error text with an escape sequence).
def frame(payload):
    return struct.pack(">IIBB", len(payload), 1, 2, 0) + payload

def ld(field, blob):
    return bytes([field << 3 | 2, len(blob)]) + blob

ok = frame(ld(2, ld(1, b"hi") + b"\x10\x01"))
bad = frame(ld(1, b"\x08\x05" + ld(2, b"no\x1b[2J")))
seeds["fuzz_agent_reply"] = bytes([5]) + ok + bad

out = sys.argv[1] if len(sys.argv) > 1 else "build/fuzz"
for name, blob in seeds.items():
    d = os.path.join(out, "corpus-" + name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed"), "wb") as f:
        f.write(blob)
