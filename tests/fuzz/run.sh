#!/bin/bash
# Runs every built fuzzer (build/fuzz/fuzz_*) for SECONDS each (default 20), keeping a
# corpus per target in build/fuzz/corpus-<name>. Prints one line per target; exits
# non-zero when any of them found a crash or an input that runs over 10 s (a hang; the
# reproducer is left in build/fuzz/).
set -u
secs=${1:-20}
cd "$(dirname "$0")/../.."
rc=0
tests/fuzz/seeds.py build/fuzz
for bin in build/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus=build/fuzz/corpus-$name
	mkdir -p "$corpus"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -artifact_prefix=build/fuzz/"$name"- \
		"$corpus" >build/fuzz/"$name".log 2>&1; then
		echo "fuzz $name: ok ($(grep -E '^Done' build/fuzz/"$name".log))"
	else
		echo "fuzz $name: FAILED, see build/fuzz/$name.log"
		tail -30 build/fuzz/"$name".log
		rc=1
	fi
done
exit $rc
