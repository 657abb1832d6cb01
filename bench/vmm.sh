#!/bin/bash
# cocoon-vmm against QEMU microvm, same freestanding PVH guest, same KVM, one run:
#  - start → first guest byte: process spawn until the guest's first serial byte
#    arrives on the VMM's stdout (the guest prints at its first instructions);
#  - start → exit: until the guest has shut down and the process is gone;
#  - VMM RSS without guest memory: RSS minus the shared memfd guest RAM (RssShmem),
#    measured 0.5 s into a running guest; both VMMs back RAM with a memfd.
# Prints medians of N runs (default 20) and cocoon-vmm/QEMU ratios (lower is better).
# Usage: bench/vmm.sh [N]    (needs make bins vmm-guests; /dev/kvm; qemu-system-x86_64)
set -eu
cd "$(dirname "$0")/.."
n=${1:-20}
vmm=build/bin/cocoon-vmm
hello=build/tests/vmm-guests/hello.elf
spin=build/tests/vmm-guests/spin.elf
for f in "$vmm" "$hello" "$spin"; do
	[ -e "$f" ] || { echo "bench/vmm.sh: $f missing (make bins vmm-guests)" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "bench/vmm.sh: no qemu-system-x86_64" >&2; exit 1; }

python3 - "$n" "$vmm" "$hello" "$spin" <<'PY'
import os, statistics, subprocess, sys, time

n, vmm, hello, spin = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
MEM = 128

def cocoon(kernel):
    return [vmm, "--kernel", kernel, "--memory", str(MEM)]

def qemu(kernel):
    # The flags Cocoon's QEMU backend uses for microvm, with the guest on -kernel.
    return ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-accel", "kvm",
            "-cpu", "host,-arch-capabilities", "-m", str(MEM),
            "-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % MEM,
            "-numa", "node,memdev=mem", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", kernel]

def boot(argv):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = p.stdout.read(1)
    t1 = time.perf_counter()
    rest = p.stdout.read()
    p.wait()
    t2 = time.perf_counter()
    if first + rest != b"hello from cocoon guest\n":
        sys.exit("unexpected guest output from %s: %r" % (argv[0], first + rest))
    return (t1 - t0) * 1e3, (t2 - t0) * 1e3

def rss(argv):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    f = {}
    with open("/proc/%d/status" % p.pid) as s:
        for line in s:
            k, _, v = line.partition(":")
            if k.startswith("Rss"):
                f[k] = int(v.split()[0])
    p.kill()
    p.wait()
    return (f["RssAnon"] + f["RssFile"]) / 1024, f["RssAnon"] / 1024, f["RssShmem"] / 1024

res = {}
for name, mk in (("cocoon-vmm", cocoon), ("qemu-microvm", qemu)):
    boot(mk(hello))  # warm the page cache
    runs = [boot(mk(hello)) for _ in range(n)]
    mem = [rss(mk(spin)) for _ in range(3)]
    res[name] = dict(first=statistics.median(r[0] for r in runs),
                     exit=statistics.median(r[1] for r in runs),
                     rss=statistics.median(m[0] for m in mem),
                     anon=statistics.median(m[1] for m in mem),
                     guest=statistics.median(m[2] for m in mem))

c, q = res["cocoon-vmm"], res["qemu-microvm"]
print("cocoon-vmm vs QEMU microvm (KVM, %d MiB, freestanding PVH guest, median of %d)" % (MEM, n))
print("%-34s %12s %14s %8s" % ("", "cocoon-vmm", "qemu-microvm", "ratio"))
rows = (("start -> first guest byte (ms)", "first"), ("start -> guest shutdown (ms)", "exit"),
        ("VMM RSS w/o guest RAM (MiB)", "rss"), ("  of which anonymous (MiB)", "anon"),
        ("guest RAM resident (MiB)", "guest"))
for label, k in rows:
    print("%-34s %12.2f %14.2f %8.3f" % (label, c[k], q[k], c[k] / q[k] if q[k] else float("nan")))
PY
