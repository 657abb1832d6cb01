# `make install PREFIX=DIR`: the installed binaries find their guest artifacts under
# their own prefix, with no config file and no build tree.

test_install_prefix_finds_guest_artifacts() {
	local p=$T/prefix
	make -s -C "$ROOT" install PREFIX="$p" >"$T/make.log" 2>&1 || fail "make install: $(tail -5 "$T/make.log")"
	local f
	for f in bin/cocoon bin/cocoon-agent share/cocoon/vmlinux share/cocoon/bzImage share/cocoon/initrd.img; do
		[ -e "$p/$f" ] || fail "make install did not install $f"
	done
	local out
	out=$(cd / && "$p/bin/cocoon" check 2>&1)
	assert_eq 0 $? "installed cocoon check ($out)"
	assert_contains "$out" "$p/share/cocoon/vmlinux" "kernel found under the prefix"
	assert_contains "$out" "$p/share/cocoon/initrd.img" "initrd found under the prefix"
	local r=$T/rootfs
	make_rootfs "$r" >/dev/null
	out=$(cd / && "$p/bin/cocoon" run --rootfs "$r" -- echo from-installed 2>&1)
	assert_eq 0 $? "installed cocoon run ($out)"
	assert_eq "from-installed" "$out" "output of the installed runtime"
}
