#!/bin/bash
# Builds the guest kernel from Debian's linux-source-6.1 with guest/kernel.config on top of
# tinyconfig, and copies vmlinux (PVH entry) and bzImage into OUT_DIR.
# The build is cached outside the clone, keyed by everything that decides its output,
# so CI on the same machine reuses it: ${COCOON_CACHE:-~/.cache/cocoon}/kernel-<key>/.
set -euo pipefail
out=${1:?usage: build-kernel.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tarball=/usr/src/linux-source-6.1.tar.xz
[ -r "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
# Bump when the build recipe below changes what it produces.
recipe=1
key=$( { cat "$here/kernel.config"; echo "$recipe $srcver"; gcc --version | head -1; } | sha256sum | cut -c1-16)
cache=${COCOON_CACHE:-$HOME/.cache/cocoon}/kernel-$key
mkdir -p "$out"

if [ ! -f "$cache/vmlinux" ] || [ ! -f "$cache/bzImage" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-kbuild.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "build-kernel: building linux-source $srcver (cache key $key); this takes ~10 minutes on 2 cores" >&2
	tar -C "$work" -xf "$tarball"
	src=$work/linux-source-6.1
	make -C "$src" -s tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$here/kernel.config" >/dev/null
	make -C "$src" -s olddefconfig
	# Fail loudly if a requested option did not survive dependency resolution.
	missing=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=y) opt=${line%%=*}
			grep -qx "$opt=y" "$src/.config" || { echo "build-kernel: $opt=y did not stick" >&2; missing=1; } ;;
		esac
	done < "$here/kernel.config"
	[ "$missing" = 0 ] || exit 1
	make -C "$src" -s -j"$(nproc)" vmlinux bzImage
	mkdir -p "$cache.tmp"
	cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$src/.config" "$cache.tmp/"
	strip --strip-debug "$cache.tmp/vmlinux" 2>/dev/null || true
	rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
cp "$cache/vmlinux" "$cache/bzImage" "$out/"
# What `uname -r` prints in the guest, for tests and `cocoon check`.
strings -n 16 "$cache/vmlinux" | sed -n 's/^Linux version \([^ ]*\) .*/\1/p' | head -1 >"$out/kernel.release"
echo "build-kernel: $out/vmlinux $out/bzImage (from $cache)" >&2
