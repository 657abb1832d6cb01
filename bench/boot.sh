#!/bin/bash
# Boot profile of the real guest (kernel + initrd with the agent) under cocoon-vmm: for
# each variant, N boots to the point where the agent accepts a vsock connection, then
# the VMM's `profile` (docs/vmm.md, "Boot profile"). Prints, per variant, the medians of
# time to agent (the VMM's agent_ms and the wall time from spawn), exits to the VMM,
# KVM's own exit count, and the busiest devices and unclaimed probes; then each variant's
# ratio to the first. Variants take turns, boot by boot. Needs hardware virtualization
# (in the nested lab: tests/lab).
# Usage: bench/boot.sh [N] [LABEL=KERNEL_ARGS ...]
#   Each variant's arguments follow the backend's base command line; the first variant is
#   the baseline. Default: without the boot cuts ("uncut", as before the profile) against
#   with them (HV_GUEST_BOOT_CUTS, as shipped).
set -eu
cd "$(dirname "$0")/.."
n=${1:-5}
[ $# -gt 0 ] && shift
vmm=build/bin/cocoon-vmm
kernel=build/share/cocoon/vmlinux
initrd=build/share/cocoon/initrd.img
for f in "$vmm" "$kernel" "$initrd"; do
	[ -e "$f" ] || { echo "bench/boot.sh: $f missing (make)" >&2; exit 1; }
done
# The command line src/host/hv_cocoon_vmm.c gives the guest.
base=$(grep -A1 "^#define VMM_BASE_CMDLINE" src/host/hv_cocoon_vmm.c | sed -n '2s/^[[:space:]]*"\(.*\)"$/\1/p')
[ -n "$base" ] || { echo "bench/boot.sh: VMM_BASE_CMDLINE not found" >&2; exit 1; }
cuts=$(sed -n 's/^#define HV_GUEST_BOOT_CUTS "\(.*\)"$/\1/p' src/host/hypervisor.h)
[ -n "$cuts" ] || { echo "bench/boot.sh: HV_GUEST_BOOT_CUTS not found" >&2; exit 1; }
if [ $# -eq 0 ]; then
	set -- "uncut=" "shipped=$cuts"
fi
python3 - "$n" "$vmm" "$kernel" "$initrd" "$base" "$@" <<'PY'
import os, re, socket, statistics, subprocess, sys, tempfile, time

n, vmm, kernel, initrd, base = int(sys.argv[1]), *sys.argv[2:6]
variants = [a.split("=", 1) for a in sys.argv[6:]]

def profile_of(line):
    return {k: float(v) for k, v in re.findall(r"(\S+)=([0-9.]+)", line)}

def api(path, cmd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    with s, s.makefile("rw") as f:
        f.write(cmd + "\n")
        f.flush()
        return f.readline().strip()

def boot(extra):
    d = tempfile.mkdtemp(prefix="cocoon-boot.")
    vs, ap = d + "/vsock.sock", d + "/api.sock"
    argv = [vmm, "--kernel", kernel, "--initrd", initrd, "--memory", "256", "--cpus", "1",
            "--cmdline", (base + " " + extra).strip(),
            "--vsock", "cid=3,socket=" + vs, "--api-socket", ap]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            if p.poll() is not None:
                sys.exit("cocoon-vmm exited (%d) before the agent answered" % p.returncode)
            if time.time() > deadline:
                sys.exit("no agent within 120 s")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2)
                s.connect(vs)
                s.sendall(b"CONNECT 1024\n")
                if s.recv(64).startswith(b"OK "):
                    wall = (time.perf_counter() - t0) * 1e3
                    s.close()
                    break
                s.close()
            except OSError:
                pass
            time.sleep(0.005)
        prof = profile_of(api(ap, "profile"))
        prof["wall_ms"] = wall
        api(ap, "shutdown")
        p.wait(timeout=20)
        return prof
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)

def med(runs, key):
    return statistics.median(r.get(key, 0.0) for r in runs)

print("cocoon-vmm boot to agent, %d boots per variant, base command line: %s" % (n, base))
# Round robin, so that a change in the machine's load falls on every variant alike.
results = [(label, []) for label, _ in variants]
for _ in range(n):
    for (label, extra), (_, runs) in zip(variants, results):
        runs.append(boot(extra))
for (label, extra), (_, runs) in zip(variants, results):
    print("\n[%s] extra args: %s" % (label, extra or "(none)"))
    for key in ("agent_ms", "wall_ms", "vmm_exits", "io", "mmio", "kvm.exits",
                "kvm.halt_exits", "kvm.io_exits", "kvm.mmio_exits", "kvm.irq_window_exits"):
        print("  %-22s %10.1f" % (key, med(runs, key)))
    keys = sorted({k for r in runs for k in r if k.startswith(("dev.", "unclaimed."))},
                  key=lambda k: -med(runs, k))
    for key in keys[:8]:
        print("  %-22s %10.1f" % (key, med(runs, key)))
if len(results) > 1:
    label0, runs0 = results[0]
    for label, runs in results[1:]:
        print("\n%s / %s: agent_ms %.2f, vmm_exits %.2f, kvm.exits %.2f" % (
            label, label0,
            med(runs, "agent_ms") / max(med(runs0, "agent_ms"), 1e-9),
            med(runs, "vmm_exits") / max(med(runs0, "vmm_exits"), 1e-9),
            med(runs, "kvm.exits") / max(med(runs0, "kvm.exits"), 1e-9)))
PY
