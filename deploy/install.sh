#!/bin/bash
# Installs Cocoon on this node for containerd 1.6: binaries and guest artifacts under
# PREFIX, the runtime handler `cocoon` added to /etc/containerd/config.toml, a default
# /etc/cocoon/cocoon.conf, then restarts containerd and (with --label NODE) labels the
# node so RuntimeClass `cocoon` schedules there.
# Usage: deploy/install.sh [--prefix /opt/cocoon] [--label NODE] [--no-restart]
# Run from a built tree (`make`): it installs build/bin and build/share/cocoon.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/cocoon
label=
restart=1
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) prefix=$2; shift 2 ;;
	--label) label=$2; shift 2 ;;
	--no-restart) restart=0; shift ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done
for f in bin/containerd-shim-cocoon-v2 bin/cocoon share/cocoon/initrd.img; do
	[ -e "$root/build/$f" ] || { echo "build/$f missing: run make first" >&2; exit 1; }
done

make -C "$root" install PREFIX="$prefix" >/dev/null
# containerd looks the shim up on its PATH, which always has /usr/local/bin.
ln -sf "$prefix/bin/containerd-shim-cocoon-v2" /usr/local/bin/containerd-shim-cocoon-v2

install -d /etc/cocoon /etc/containerd
if [ ! -e /etc/cocoon/cocoon.conf ]; then
	cat >/etc/cocoon/cocoon.conf <<CONF
# Cocoon configuration (docs/shim.md, "Configuration"). Per-handler files are selected
# by the ConfigPath option of a handler in /etc/containerd/config.toml.
hypervisor = auto
kernel = $prefix/share/cocoon/vmlinux
initrd = $prefix/share/cocoon/initrd.img
default_vcpus = 1
default_memory_mib = 256
log_level = warn
CONF
fi
cfg=/etc/containerd/config.toml
if [ ! -e "$cfg" ]; then
	containerd config default >"$cfg"
fi
"$root/deploy/containerd/add-handler.sh" "$cfg"
if [ "$restart" = 1 ]; then
	systemctl restart containerd
fi
"$prefix/bin/cocoon" check || echo "warning: cocoon check failed; pods will not start here" >&2
if [ -n "$label" ]; then
	kubectl label node "$label" cocoon.dev/runtime=true --overwrite
fi
echo "installed Cocoon in $prefix; RuntimeClass: kubectl apply -f $root/deploy/kubernetes/runtimeclass.yaml"
