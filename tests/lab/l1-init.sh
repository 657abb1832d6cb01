#!/bin/bash
# PID 1 of the lab's L1 once it has switch_rooted into the host's / (virtio-fs, read-only,
# under a tmpfs overlay): sets up the machine the way a KVM host looks (proc, sys, cgroups like
# the host's, /dev/kvm from Debian's kvm-amd, loopback), runs the command that
# tests/lab/lab.sh left in the writable 9p directory `labout` (mounted at $LAB_OUT),
# writes its output there (console.log), and powers L1 off.
out=/run/lab
# No power-off path may hang: QEMU runs with -no-reboot, so a reboot ends it.
finish() {
	sync
	echo "lab-l1: done"
	reboot -f
}
say() { echo "lab-l1: $*"; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null || mount -t devpts devpts /dev/pts
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
# cgroups laid out as on the host: v1 controllers, the v2 hierarchy at unified/.
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
	mkdir -p /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
done
mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
mkdir -p $out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 labout $out || {
	say "cannot mount the results directory"
	finish
}
exec >"$out/console.log" 2>&1
trap finish EXIT

# shellcheck disable=SC1091
. "$out/env"
# /tmp a tmpfs of its own: containerd's overlayfs snapshots refuse an overlay as their
# upper layer. A clone under /tmp stays reachable at a path of its own.
case $LAB_ROOT/ in /tmp/*)
	mkdir -p /run/lab-clone
	mount --bind "$LAB_ROOT" /run/lab-clone
	LAB_ROOT=/run/lab-clone
	;;
esac
mount -t tmpfs -o mode=1777 tmpfs /tmp

# Debian's modules of this kernel, loaded by busybox's modprobe (the host has no kmod);
# the kernel's own module requests (bridge, veth, netfilter…) go through it too.
ver=$(uname -r)
mkdir -p /lib/modules/$ver
mount --bind "$LAB_KERNEL_DIR/lib/modules/$ver" /lib/modules/$ver
ln -sf /bin/busybox /run/modprobe
echo /run/modprobe >/proc/sys/kernel/modprobe
for m in irqbypass kvm ccp kvm-amd tun vhost_net vhost_vsock bridge veth br_netfilter; do
	/run/modprobe "$m" || say "modprobe $m failed"
done
[ -c /dev/kvm ] || say "no /dev/kvm in L1"
# One KVM VM lives as long as L1 (QEMU, created and never started). KVM flips static
# keys when the first VM appears and the last one goes (the scheduler's preempt
# notifiers among them); each flip rewrites kernel text through int3 breakpoints, and
# under the TCG that runs L1 a flip now and then left both vCPUs soft-locked at the
# patched jump in finish_task_switch, no timer firing: the stalls of docs/lab.md. With a
# VM always there, the tests' VMs never flip those keys.
qemu-system-x86_64 -accel kvm -M microvm -S -m 16 -nodefaults -display none -monitor none \
	-serial none >/run/kvm-holder.log 2>&1 &
holder=$!
# Its VM must exist before the tests' first one does, or that one flips the keys.
for _ in $(seq 150); do
	ls -l /proc/$holder/fd 2>/dev/null | grep -q 'kvm-vm' && break
	sleep 0.2
done
ls -l /proc/$holder/fd 2>/dev/null | grep -q 'kvm-vm' || say "the KVM holder VM did not start: $(cat /run/kvm-holder.log)"
ip link set lo up
hostname cocoon-lab
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
cd "$LAB_ROOT" || exit 1
say "L1 up in $(cut -d' ' -f1 /proc/uptime) s: $(nproc) vCPUs, $(grep -cw svm /proc/cpuinfo) with svm, kernel $ver"
# The command tests/lab/lab.sh was given, in the clone (results go to $LAB_OUT).
export LAB_OUT=$out COCOON_TEST_SUMMARY=$out/summary
"${LAB_CMD[@]}"
echo "lab-l1: command exited $?"
