#!/bin/bash
# Makes a minimal container root filesystem from Debian's busybox-static:
# busybox, its applet links, /etc/passwd and /etc/group. Usage: busybox-rootfs.sh DIR
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
[ -x /bin/busybox ] || { echo "busybox-rootfs: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir"/{bin,tmp,etc,proc,sys,dev,root,run}
chmod 1777 "$dir/tmp"
cp /bin/busybox "$dir/bin/busybox"
# The ~270 applet links in one process, not one ln each: an exec costs ~0.1 s in the
# nested-KVM lab's L1 (tests/lab), where every test makes a rootfs.
/bin/busybox --list | python3 -c '
import os, sys
d = sys.argv[1]
for a in sys.stdin.read().split():
    p = os.path.join(d, a)
    if not os.path.lexists(p):
        os.symlink("busybox", p)
' "$dir/bin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
