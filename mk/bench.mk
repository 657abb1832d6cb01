# Benchmarks: each bench/*.sh runs its peer (runc, QEMU) in the same run and prints ratios.
bench: all
	@for b in bench/*.sh; do echo "== $$b"; $$b || exit 1; done
