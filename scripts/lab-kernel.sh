#!/bin/bash
# Fetches the kernel of the nested-KVM lab (tests/lab): Debian's own kernel package,
# the version that linux-image-amd64 points at, downloaded with `apt-get download` and
# unpacked with `dpkg-deb -x` (never installed as the host's kernel). Its modules give
# L1 a /dev/kvm (kvm-amd on the SVM that QEMU's TCG emulates). Cached outside the clone,
# keyed by version: ${COCOON_CACHE:-~/.cache/cocoon}/lab-<version>/ holds vmlinuz,
# lib/modules/<version>/ (with modules.dep from busybox depmod) and a `version` file.
# Prints that directory. Usage: scripts/lab-kernel.sh
set -euo pipefail
cache=${COCOON_CACHE:-$HOME/.cache/cocoon}
die() {
	echo "lab-kernel: $*" >&2
	exit 1
}
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || die "apt-cache knows no linux-image-amd64 dependency (apt-get update first)"
ver=${pkg#linux-image-}
dir=$cache/lab-$ver
if [ -f "$dir/version" ]; then
	echo "$dir"
	exit 0
fi
command -v busybox >/dev/null || die "busybox missing (busybox-static)"
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/lab-$ver.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# apt's _apt user cannot write into root's cache: download as root, quietly.
(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
	die "apt-get download $pkg failed"
mkdir "$tmp/root"
dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/root"
rm -f "$tmp"/*.deb
[ -f "$tmp/root/boot/vmlinuz-$ver" ] || die "$pkg has no /boot/vmlinuz-$ver"
busybox depmod -b "$tmp/root" "$ver"
mkdir -p "$tmp/lab/lib/modules"
mv "$tmp/root/boot/vmlinuz-$ver" "$tmp/lab/vmlinuz"
mv "$tmp/root/lib/modules/$ver" "$tmp/lab/lib/modules/$ver"
echo "$ver" >"$tmp/lab/version"
rm -rf "$dir"
mv "$tmp/lab" "$dir"
echo "$dir"
