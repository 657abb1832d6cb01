#!/bin/bash
# Runs the whole suite: every unit test binary (cmocka, TAP output) and every
# integration test function (tests/integration/*.sh, functions named test_*), the
# latter in parallel. Ends with one line: "N passed, N failed, N skipped".
# Usage: tests/run.sh [FILTER...]   (run tests whose name contains any FILTER)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
filters=("$@")
# wanted NAME: true when no filter is given or NAME contains one of them.
wanted() {
	[ ${#filters[@]} -eq 0 ] && return 0
	local f
	for f in "${filters[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
	return 1
}
jobs=${COCOON_TEST_JOBS:-$(nproc)}
results=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-results.XXXXXX")
trap 'rm -rf "$results"' EXIT

# Unit tests: one TAP line per case.
for bin in build/tests/test_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	wanted "$name" || continue
	out=$results/unit-$name.log
	CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$out" 2>&1
	rc=$?
	grep -E '^(not )?ok ' "$out" | while read -r line; do
		case "$line" in
		"not ok"*) echo "fail unit/$name ${line#not ok }" ;;
		ok*) echo "pass unit/$name ${line#ok }" ;;
		esac
	done >>"$results/summary"
	if [ $rc -ne 0 ] || grep -q '^not ok' "$out"; then
		echo "FAIL: unit/$name" >&2
		cat "$out" >&2
		grep -qE '^(not )?ok ' "$out" || echo "fail unit/$name (crashed, rc=$rc)" >>"$results/summary"
	fi
done

# Integration tests: each test function runs in its own bash with tests/lib.sh.
list=$results/list
for f in tests/integration/*.sh; do
	[ -f "$f" ] || continue
	for t in $(grep -oE '^test_[A-Za-z0-9_]+' "$f"); do
		wanted "$f:$t" || continue
		echo "$f $t"
	done
done >"$list"

run_one() {
	local file=$1 t=$2 results=$RESULTS
	local log=$results/$(basename "$file" .sh)-$t.log
	local start=$SECONDS
	bash -c 'set -u; source tests/lib.sh; source "$1"; cc_run_test "$2"' _ "$file" "$t" >"$log" 2>&1
	local rc=$?
	local dur=$((SECONDS - start))
	case $rc in
	0) echo "pass $t" >>"$results/summary"; echo "PASS: $t (${dur}s)" ;;
	77) echo "skip $t" >>"$results/summary"; echo "SKIP: $t: $(grep -m1 '^SKIP: ' "$log" | cut -c7-)" ;;
	*) echo "fail $t" >>"$results/summary"; echo "FAIL: $t (${dur}s)"; sed 's/^/    /' "$log" ;;
	esac
}
export -f run_one
export RESULTS=$results
[ -s "$list" ] && xargs -P "$jobs" -L 1 bash -c 'run_one "$1" "$2"' _ <"$list"

touch "$results/summary"
pass=$(grep -c '^pass' "$results/summary")
fail=$(grep -c '^fail' "$results/summary")
skip=$(grep -c '^skip' "$results/summary")
grep '^fail' "$results/summary" | sed 's/^fail /failed: /'
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
