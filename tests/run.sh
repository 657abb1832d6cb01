#!/bin/bash
# Runs the whole suite: every unit test binary (cmocka, TAP output) and every
# integration test function (tests/integration/*.sh, functions named test_*), the
# latter in parallel; then the KVM backends' tests (see below). Ends with one line:
# "N passed, N failed, N skipped".
# Usage: tests/run.sh [FILTER...]   (tests whose name contains a FILTER; =NAME: that test)
#
# KVM backends: the `cocoon run`, containerd, CRI and network tests run once more for
# each KVM backend, cocoon-vmm and QEMU -accel kvm, chosen by a COCOON_CONFIG file,
# named BACKEND/test_… (e.g. cocoon-vmm/test_run_exit_codes). With vmx/svm and a
# /dev/kvm they run here; without, where QEMU can emulate SVM, they run in the
# nested-KVM lab (tests/lab/lab.sh), named lab/BACKEND/test_…, together with the
# cocoon-vmm tests (vmm.sh, unit/test_hv_cocoon_vmm) that need /dev/kvm.
# COCOON_TEST_LAB picks what the lab runs (docs/lab.md): `full` (the default) cocoon-vmm's
# own tests (vmm.sh with its Linux guests and templates, unit/test_hv_cocoon_vmm), the
# `cocoon run` suite for both backends and the containerd, CRI and network suites with
# cocoon-vmm; `vmm` (quicker) cocoon-vmm's own tests and check.sh for each backend; `all`
# adds the shim's suites with QEMU -accel kvm; `0` no lab.
# Inside L1 the lab runs this script with COCOON_TEST_KVM_ONLY=1 (only that part) and
# COCOON_TEST_SUMMARY=FILE (results kept).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
filters=("$@")
# wanted NAME: true when no filter is given or NAME contains one of them; a filter
# "=NAME" matches that name only, or the part of FILE:NAME after the colon (the lab
# resumes a crashed L1's tests by name).
wanted() {
	[ ${#filters[@]} -eq 0 ] && return 0
	local f
	for f in "${filters[@]}"; do
		case $f in
		=*) [ "$1" = "${f#=}" ] || [ "${1#*:}" = "${f#=}" ] && return 0 ;;
		*) [[ "$1" == *"$f"* ]] && return 0 ;;
		esac
	done
	return 1
}
jobs=${COCOON_TEST_JOBS:-$(nproc)}
# In the lab's L1 one test at a time: with two L2 Linux guests booting at once on L1's
# two emulated vCPUs, 2 of 80 cold boots triple-faulted at ~1 s of guest time; one at a
# time, none of 50+ did (docs/lab.md, "Known failures").
[ -n "${COCOON_TEST_KVM_ONLY:-}" ] && jobs=${COCOON_TEST_JOBS:-1}
results=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-results.XXXXXX")
trap 'rm -rf "$results"' EXIT
# What the tests of this run make once and share (the busybox OCI images).
export COCOON_TEST_CACHE=$results/cache
mkdir -p "$COCOON_TEST_CACHE"
# "pass|fail|skip NAME" lines, written as tests end: with COCOON_TEST_SUMMARY (the lab's
# L1) what finished is kept even when the run is cut short.
summary=${COCOON_TEST_SUMMARY:-$results/summary}
: >"$summary"
# The host as the run found it, to compare with at its end (tests/host_state.sh).
# COCOON_TEST_HOST_CHECK=0 skips that, for a run beside another one on the same host.
source tests/host_state.sh
host_check=${COCOON_TEST_HOST_CHECK:-1}
[ "$host_check" = 0 ] || host_state >"$results/host-before"

kvm_only=${COCOON_TEST_KVM_ONLY:-}
lab_set=${COCOON_TEST_LAB:-full}
prefix=
[ -n "$kvm_only" ] && prefix=lab/
# Files whose tests run for each KVM backend: the `cocoon run` suite, and what goes
# through the shim (containerd, CRI, pod networking).
run_files="tests/integration/run.sh tests/integration/run_errors.sh tests/integration/check.sh"
shim_files="tests/integration/containerd.sh tests/integration/cri.sh tests/integration/cri_net.sh tests/integration/net.sh"
# cocoon-vmm's own tests that need /dev/kvm (not the fuzzers, nor the no-vmx/svm message).
kvm_vmm_test() {
	[[ "$1" != test_vmm_fuzz_bounded && "$1" != test_vmm_cocoon_run_says_why_not_here ]]
}
host_kvm() { grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; }

# Unit tests: one TAP line per case.
for bin in build/tests/test_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	if [ -n "$kvm_only" ]; then
		[ "$name" = test_hv_cocoon_vmm ] || continue
		name=${prefix}cocoon-vmm/unit/$name
	else
		name=unit/$name
	fi
	wanted "$name" || continue
	out=$results/unit-${name//\//_}.log
	CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$out" 2>&1
	rc=$?
	grep -E '^(not )?ok ' "$out" | while read -r line; do
		case "$line" in
		*" # SKIP "*) echo "skip $name ${line##* # SKIP }" ;;
		"not ok"*) echo "fail $name ${line#not ok }" ;;
		ok*) echo "pass $name ${line#ok }" ;;
		esac
	done >>"$summary"
	# cmocka's TAP marks a skipped case "not ok N # SKIP name".
	if [ $rc -ne 0 ] || grep '^not ok' "$out" | grep -vq ' # SKIP '; then
		echo "FAIL: $name" >&2
		cat "$out" >&2
		grep -qE '^(not )?ok ' "$out" || echo "fail $name (crashed, rc=$rc)" >>"$summary"
	fi
done

# Integration tests: each test function runs in its own bash with tests/lib.sh.
# Lines "FILE TEST NAME CONFIG" (CONFIG "-": none given).
list=$results/list
list_tests() { # NAME_PREFIX CONFIG FILE...
	local p=$1 conf=$2 f t
	shift 2
	for f in "$@"; do
		[ -f "$f" ] || continue
		for t in $(grep -oE '^test_[A-Za-z0-9_]+' "$f"); do
			[ "$p" = "${prefix}cocoon-vmm/" ] && [ "$f" = tests/integration/vmm.sh ] && { kvm_vmm_test "$t" || continue; }
			wanted "$f:$p$t" || continue
			echo "$f $t $p$t $conf"
		done
	done
}
# The KVM backends' tests, with one config file each.
list_kvm_tests() {
	local b
	for b in cocoon-vmm qemu; do
		printf 'hypervisor = %s\n' "$b" >"$results/$b.conf"
		# In the lab an L2 guest boots under emulated SVM, with other L1s on the same cores.
		[ -n "$kvm_only" ] && printf 'boot_timeout_ms = 300000\n' >>"$results/$b.conf"
		# A template is made by a detached process that outlives the sandbox which
		# asked for it; the suites check one sandbox at a time, cold. Templates have
		# their own tests (vmm.sh test_vmm_linux_template_*).
		printf 'template = off\n' >>"$results/$b.conf"
		[ "$b" = cocoon-vmm ] && [ -n "$kvm_only" ] && list_tests "${prefix}$b/" "$results/$b.conf" tests/integration/vmm.sh
		# The quick set: cocoon-vmm's own tests and `cocoon check` (which backend a
		# KVM host gets, and why) for each backend.
		if [ -n "$kvm_only" ] && [ "$lab_set" = vmm ]; then
			list_tests "${prefix}$b/" "$results/$b.conf" tests/integration/check.sh
			continue
		fi
		# The full set runs the shim's suites with cocoon-vmm, the default on a
		# KVM host, alone: with QEMU they are the host's TCG runs but for -accel.
		if [ -n "$kvm_only" ] && [ "$lab_set" != all ] && [ "$b" = qemu ]; then
			# shellcheck disable=SC2086
			list_tests "${prefix}$b/" "$results/$b.conf" $run_files
			continue
		fi
		# shellcheck disable=SC2086
		list_tests "${prefix}$b/" "$results/$b.conf" $run_files $shim_files
	done
}
run_one() {
	local file=$1 t=$2 name=$3 conf=$4 results=$RESULTS summary=$SUMMARY
	local log=$results/$(basename "$file" .sh)-${name//\//_}.log
	local start=$SECONDS
	[ "$conf" = - ] || export COCOON_CONFIG=$conf
	# SIGTERM to the test's shell (tests/lib.sh shows what still runs, then kills it);
	# SIGKILL if that shell does not end.
	timeout --foreground -k 30 "$TEST_TIMEOUT" \
		bash -c 'set -u; source tests/lib.sh; source "$1"; cc_run_test "$2"' _ "$file" "$t" >"$log" 2>&1
	local rc=$?
	local dur=$((SECONDS - start)) why=
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && why=", timed out after ${TEST_TIMEOUT}s"
	case $rc in
	0) echo "pass $name" >>"$summary"; echo "PASS: $name (${dur}s)" ;;
	77) echo "skip $name" >>"$summary"; echo "SKIP: $name: $(grep -m1 '^SKIP: ' "$log" | cut -c7-)" ;;
	*) echo "fail $name" >>"$summary"; echo "FAIL: $name (${dur}s$why)"; sed 's/^/    /' "$log" ;;
	esac
}
export -f run_one
export RESULTS=$results SUMMARY=$summary
# Each integration test is stopped after COCOON_TEST_TIMEOUT seconds and fails by name,
# so that one stalled test cannot hold up the rest of the run (nor the lab's L1). In the
# lab, twice its boot_timeout_ms: a containerd test took up to 195 s there on loaded cores.
TEST_TIMEOUT=${COCOON_TEST_TIMEOUT:-900}
[ -n "$kvm_only" ] && TEST_TIMEOUT=${COCOON_TEST_TIMEOUT:-${COCOON_LAB_TEST_TIMEOUT:-600}}
export TEST_TIMEOUT
run_list() { [ -s "$list" ] && xargs -P "$jobs" -L 1 bash -c 'run_one "$1" "$2" "$3" "$4"' _ <"$list"; }

if [ -z "$kvm_only" ]; then
	list_tests "" - tests/integration/*.sh >"$list"
	run_list
fi
if [ -n "$kvm_only" ] || host_kvm; then
	list_kvm_tests >"$list"
	run_list
elif [ "$lab_set" != 0 ] && command -v qemu-system-x86_64 >/dev/null; then
	# No vmx/svm here: the same tests in the lab, if any is wanted.
	prefix=lab/
	# What the L1s will run, each test named exactly (=NAME) in the L1 that gets it.
	kvm_only=1 list_kvm_tests >"$list"
	wanted lab/cocoon-vmm/unit/test_hv_cocoon_vmm && echo "- - lab/cocoon-vmm/unit/test_hv_cocoon_vmm -" >>"$list"
	# lab_l1s LIST OUT: LIST's tests in one L1, its results in OUT.summary and what it
	# printed in OUT.log. If L1 dies before its end (its kernel crashed, or it ran out
	# of time), the crash stays a failure and the tests it had not finished run once
	# more in a fresh L1, so one crash does not lose the rest of the set. An L1 that
	# froze (tests/lab/lab.sh: QEMU's emulation stopped its vCPU for good; no test of
	# ours can do that) is a skip that says so, its unfinished tests (the one it froze
	# in too) run in a fresh L1 as well; a second freeze is a failure.
	lab_l1s() {
		local list=$1 out=$2 round=1 lrc name froze
		local -a names
		: >"$out.summary"
		while [ -s "$list" ]; do
			names=()
			while read -r name; do names+=("=$name"); done < <(cut -d' ' -f3 "$list")
			echo "lab: booting L1 (nested KVM under QEMU TCG) for ${#names[@]} tests ($lab_set)" >&2
			tests/lab/lab.sh "$out.$round" env COCOON_TEST_KVM_ONLY=1 COCOON_TEST_LAB="$lab_set" \
				tests/run.sh "${names[@]}" 2>&1
			lrc=$?
			froze=$(grep -s -m1 '^froze L1' "$out.$round/summary")
			if [ -n "$froze" ] && [ $round -lt 2 ]; then
				echo "skip lab/L1-froze ${froze#froze L1 }" >>"$out.$round/summary"
				echo "SKIP: lab/L1-froze: QEMU's emulation stopped L1's vCPU ${froze#froze L1 }"
			elif [ -n "$froze" ]; then
				echo "fail L1 (froze again: ${froze#froze L1 })" >>"$out.$round/summary"
			elif [ $lrc -ne 0 ] && ! grep -qs '^fail L1' "$out.$round/summary"; then
				echo "fail L1 (tests/lab/lab.sh exited $lrc)" >>"$out.$round/summary"
			fi
			# L1's own output, less its totals (folded into the line below).
			grep -vE '^(failed: |[0-9]+ passed, )' "$out.$round/console.log" 2>/dev/null
			grep -v '^froze L1' "$out.$round/summary" >>"$out.summary" 2>/dev/null
			grep -qs -e '^fail L1' -e '^skip lab/L1-froze' "$out.$round/summary" && [ $round -lt 2 ] || break
			# What that L1 did not finish: listed names with no result line.
			awk 'NR == FNR { if ($1 ~ /^(pass|fail|skip)$/) done[$2]; next } !($3 in done)' \
				"$out.$round/summary" "$list" >"$list.rest"
			mv "$list.rest" "$list"
			[ -s "$list" ] && echo "lab: L1 died or froze before its end: $(wc -l <"$list") tests it had not finished run in a fresh L1"
			round=$((round + 1))
		done >"$out.log"
	}
	# Several L1s at once, the list dealt out among them, one test at a time in each,
	# each L1 with one vCPU (docs/lab.md): with two, L1's KVM now and then ran a guest
	# from a corrupt VMCB (a triple fault or an endless loop, about one boot in 150),
	# with one, none in 400. An L1's vCPU is one host thread, so COCOON_LAB_L1S of them
	# keep as many host cores busy.
	export COCOON_LAB_CPUS=${COCOON_LAB_CPUS:-1}
	# No more L1s than the host's memory holds (each has COCOON_LAB_MEMORY, 4 GiB).
	fit=$(awk -v m="${COCOON_LAB_MEMORY:-4096}" '/^MemAvailable:/ { print int($2 / 1024 / (m + 1024)) }' /proc/meminfo)
	l1s=${COCOON_LAB_L1S:-$((jobs < fit ? jobs : fit))}
	[ "$l1s" -ge 1 ] || l1s=1
	[ "$(wc -l <"$list")" -lt "$l1s" ] && l1s=$(wc -l <"$list")
	for k in $(seq "$l1s"); do
		awk -v n="$l1s" -v k="$k" '(NR - 1) % n == k - 1' "$list" >"$list.l1-$k"
		lab_l1s "$list.l1-$k" "$results/l1-$k" &
	done
	wait
	for k in $(seq "$l1s"); do
		cat "$results/l1-$k.log" >&2
		cat "$results/l1-$k.summary" >>"$summary"
	done
fi

# Whatever the run made on the host and did not remove (a link, netns, cgroup or
# process: after each test's own check, tests/lib.sh leftovers) fails the run by name.
if [ "$host_check" != 0 ]; then
	name=${kvm_only:+lab/}suite/nothing_left_on_the_host
	left=$(host_state_new "$results/host-before")
	if [ -z "$left" ]; then
		echo "pass $name" >>"$summary"
		echo "PASS: $name"
	else
		echo "fail $name" >>"$summary"
		echo "FAIL: $name: the run left these behind:"
		sed 's/^/    /' <<<"$left"
	fi
fi

pass=$(grep -c '^pass' "$summary")
fail=$(grep -c '^fail' "$summary")
skip=$(grep -c '^skip' "$summary")
grep '^fail' "$summary" | sed 's/^fail /failed: /'
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
