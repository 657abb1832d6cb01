#!/bin/bash
# The README's first command: installs the Debian packages Cocoon needs, builds every
# binary and the guest kernel and initrd, checks the host, then runs a real container
# inside its own VM.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
make -j"$(nproc)"
build/bin/cocoon check
tests/busybox-rootfs.sh build/demo-rootfs
echo "+ cocoon run --rootfs build/demo-rootfs -- sh -c '...'"
build/bin/cocoon run --rootfs build/demo-rootfs -- \
	sh -c 'echo "hello from a container in its own VM"; echo "guest kernel: $(uname -r)"; echo "processes visible: $(ps -o pid= | wc -l)"'
echo "host kernel:  $(uname -r)"
