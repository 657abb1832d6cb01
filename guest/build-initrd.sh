#!/bin/bash
# Builds the guest initrd: a newc cpio holding the static cocoon-agent as /init and the
# empty mount points it uses. Left uncompressed: it is small, and decompression is slow
# under TCG.
set -euo pipefail
agent=${1:?usage: build-initrd.sh AGENT_BINARY OUT_FILE}
out=${2:?usage: build-initrd.sh AGENT_BINARY OUT_FILE}
[ -x "$agent" ] || { echo "build-initrd: $agent is not an executable" >&2; exit 1; }
if readelf -l "$agent" 2>/dev/null | grep -q "Requesting program interpreter"; then
	echo "build-initrd: $agent must be statically linked (the initrd has no libraries)" >&2
	exit 1
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{dev,proc,sys,run,tmp,etc}
install -m 0755 "$agent" "$stage/init"
# The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
echo "build-initrd: $out ($(stat -c %s "$out") bytes)" >&2
