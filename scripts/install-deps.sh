#!/bin/bash
# Installs the Debian packages Cocoon needs to build, run and test; does nothing when
# they are all present (so the test command can call it every time).
set -euo pipefail
pkgs=(
	# build
	build-essential pkg-config bc bison flex libelf-dev libssl-dev cpio xz-utils
	protobuf-c-compiler libprotobuf-c-dev libjson-c-dev libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev
	libcmocka-dev clang libclang-rt-14-dev cppcheck clang-format
	# guest kernel source
	linux-source-6.1
	# run: VMM, virtio-fs backend, networking
	qemu-system-x86 qemu-system-common iproute2
	# tests and benchmarks: real containerd, runc, CNI, busybox images, CRI client, iperf3
	containerd runc golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev
	containernetworking-plugins busybox-static iperf3 hyperfine nodejs procps psmisc jq curl
	python3 python3-yaml
	# Docker-in-Docker in a privileged pod: the test gives dockerd to the pod's VM; it
	# never runs on the host (see the policy-rc.d guard below)
	docker.io
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Debian splits npm from nodejs; NodeSource's nodejs already carries it.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	[ "$(id -u)" = 0 ] || { echo "install-deps: run as root to install packages" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	# docker.io's maintainer scripts would start dockerd on the host: services stay down
	# while installing (invoke-rc.d asks policy-rc.d; 101 = action forbidden).
	guard=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
		guard=/usr/sbin/policy-rc.d
		trap 'rm -f "$guard"' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Without vmx/svm the KVM backends are tested in the nested-KVM lab (tests/lab), whose
# L1 boots Debian's own kernel package, fetched and cached (not installed) here.
grep -qwE 'vmx|svm' /proc/cpuinfo || "$(dirname "$0")/lab-kernel.sh" >/dev/null
