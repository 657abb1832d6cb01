#!/bin/bash
# Installs Cocoon on this node for containerd 1.6: binaries and guest artifacts under
# PREFIX, the runtime handler `cocoon` added to /etc/containerd/config.toml, a default
# /etc/cocoon/cocoon.conf, then restarts containerd and (with --label NODE) labels the
# node so RuntimeClasses `cocoon` and `kata-mshv-vm-isolation` schedule there; with
# --kata-label too, it also gets `workload-runtime=kata`, the label the AKS pod
# sandboxing how-to's manifests select in their own nodeSelector.
# Usage: deploy/install.sh [--prefix /opt/cocoon] [--label NODE [--kata-label]] [--no-restart]
#        deploy/install.sh --print-labels [--kata-label]   (the labels, nothing installed)
# Run from a built tree (`make`): it installs build/bin and build/share/cocoon.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/cocoon
label=
restart=1
print=0
# What the RuntimeClasses' scheduling.nodeSelector asks for (deploy/kubernetes).
labels=(cocoon.dev/runtime=true)
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) prefix=$2; shift 2 ;;
	--label) label=$2; shift 2 ;;
	--kata-label) labels+=(workload-runtime=kata); shift ;;
	--print-labels) print=1; shift ;;
	--no-restart) restart=0; shift ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done
if [ "$print" = 1 ]; then
	printf '%s\n' "${labels[@]}"
	exit 0
fi
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
	kubectl label node "$label" "${labels[@]}" --overwrite
fi
echo "installed Cocoon in $prefix; RuntimeClass: kubectl apply -f $root/deploy/kubernetes/runtimeclass.yaml"
