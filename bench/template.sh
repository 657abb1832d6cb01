#!/bin/bash
# Sandbox templates (cocoon-vmm): `cocoon run true` booted cold (template = off) against
# restored from a template (template = auto, the template made beforehand), in one run:
# `copy` copies the template's memory into the new VM's memfd (template_spares = 0),
# `spare` maps a spare made ahead of need (template_spares = 1; the next run waits for
# the filler to refill it, as a start that is not back to back finds it refilled).
# Prints, for each and as the ratio to cold:
#   - `cocoon run true` wall time (median of N) and its breakdown from --debug timing
#     lines (for a restore, "VMM spawn to agent ready" includes Reseed and MountShared);
#   - host memory (PSS) of one idle sandbox's VMM + virtiofsd (the cocoon process aside).
# Without vmx/svm here, it runs itself inside the nested-KVM lab's L1 (tests/lab/lab.sh),
# where only the ratios mean something ("lab, nested emulation").
# Usage: bench/template.sh [N]   (default 5 runs each). Needs root, a built tree (make).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	out=$(mktemp -d /tmp/cocoon-bench-tmpl.XXXXXX)
	trap 'rm -rf "$out"' EXIT
	echo "no vmx/svm here: running in the nested-KVM lab (L1 under QEMU TCG)"
	rc=0
	COCOON_LAB_TIMEOUT=${COCOON_LAB_TIMEOUT:-1800} "$root/tests/lab/lab.sh" "$out" bench/template.sh "$n" || rc=1
	grep -v '^lab-l1: done' "$out/console.log" 2>/dev/null || true
	[ $rc -eq 0 ] || { cat "$out/summary" 2>/dev/null; exit 1; }
	grep -q '^lab-l1: command exited 0' "$out/console.log"
	exit
fi
[ -w /dev/kvm ] || { echo "bench: vmx/svm but no usable /dev/kvm" >&2; exit 1; }

cocoon=$root/build/bin/cocoon
work=$(mktemp -d /tmp/cocoon-bench.XXXXXX)
export COCOON_STATE_DIR=$work/state
pids=()
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
"$root/tests/busybox-rootfs.sh" "$work/rootfs" >/dev/null
modes=(cold copy spare)
common='hypervisor = cocoon-vmm\nboot_timeout_ms = 300000\n'
printf "${common}template = off\n" >"$work/cold.conf"
printf "${common}template = auto\ntemplate_spares = 0\n" >"$work/copy.conf"
printf "${common}template = auto\ntemplate_spares = 1\n" >"$work/spare.conf"
workers() { pgrep -f -- "template-(make|spare) --state-dir $COCOON_STATE_DIR" >/dev/null; }

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.3fx'; }
cocoon_m() { # MODE ARGS...
	local m=$1
	shift
	COCOON_CONFIG=$work/$m.conf "$cocoon" "$@"
}

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "kvm: $(grep -qw svm /proc/cpuinfo && echo svm || echo vmx)$([ "$(hostname)" = cocoon-lab ] && echo ' (lab, nested emulation: L1 under QEMU TCG)')"
echo "runs: $n each, cold, copy and spare alternated"

# The template: the first run of its shape boots cold and has it made beside it. Every
# run here uses --debug (for the timing lines), which is part of a template's key.
t0=$(now_ms)
cocoon_m spare run --debug --rootfs "$work/rootfs" -- true 2>/dev/null
for i in $(seq 1 1200); do
	workers || break
	sleep 0.5
done
tdir=$(ls -d "$COCOON_STATE_DIR"/templates/c*-* 2>/dev/null | head -1)
[ -n "$tdir" ] || { echo "bench: no template made: $(tail -5 "$COCOON_STATE_DIR/templates/maker.log")" >&2; exit 1; }
echo "template $(basename "$tdir"): made $(($(now_ms) - t0)) ms after the first run started;" \
	"memory file $(du -k "$tdir/memory" | cut -f1) kB on disk of $(($(stat -c %s "$tdir/memory") / 1024)) kB, vm.state $(stat -c %s "$tdir/vm.state") bytes"
grep -E 'templates: (made|spare)' "$COCOON_STATE_DIR/templates/maker.log" | sed 's/^/  maker: /' || true
echo

for i in $(seq 1 "$n"); do
	for m in "${modes[@]}"; do
		t0=$(now_ms)
		cocoon_m "$m" run --debug --rootfs "$work/rootfs" -- true 2>"$work/err" >/dev/null ||
			{ echo "bench: $m run failed: $(tail -5 "$work/err")" >&2; exit 1; }
		wall=$(($(now_ms) - t0))
		want=""
		[ "$m" = copy ] && want="its memory copied"
		[ "$m" = spare ] && want="its memory from a spare"
		if [ -n "$want" ] && ! grep -q "restored from template .*($want)" "$work/err"; then
			echo "bench: a $m run was not restored so: $(grep -i template "$work/err" | tail -3)" >&2
			exit 1
		fi
		# A restore's parts: the VMM's copy of the template's memory (its debug line in the
		# console) and the agent's calls from connect to ready (the host's debug lines).
		awk -v w="$wall" '/^timing / {t[$2]=$3}
			/restored --restore-fd: .* pages of RAM in / {for (i = NF; i > 1; i--) if ($i == "RAM") mem = $(i+2)}
			/debug: sandbox .*: agent connected/ {conn = $2}
			/debug: sandbox .*: agent said hello/ {hello = $2}
			END {printf "%d %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n", w, t["vmm_spawned"],
				t["agent_ready"]-t["vmm_spawned"], t["container_created"]-t["agent_ready"],
				t["container_exited"]-t["container_created"], t["teardown_done"]-t["container_exited"],
				mem, (hello - conn) * 1000}' \
			"$work/err" >>"$work/start-$m"
		# The filler, between starts: its time is not the start's.
		if [ "$m" = spare ]; then
			for j in $(seq 1 1200); do workers || break; sleep 0.1; done
		fi
	done
done
echo "spares filled (the maker's first, then one after each spare run):"
grep 'templates: spare' "$COCOON_STATE_DIR/templates/maker.log" | sed 's/.*filled (/  /; s/)$//' | tr '\n' ';' | sed 's/;$/\n/'
echo
col() { awk -v c="$2" '{print $c}' "$work/start-$1" | median; }
echo "cocoon run true, median of $n (ms):"
printf '  %-48s %9s %9s %9s %8s %8s\n' "" cold copy spare copy/c spare/c
row() { # LABEL COLUMN
	local c t s
	c=$(col cold "$2")
	t=$(col copy "$2")
	s=$(col spare "$2")
	printf '  %-48s %9s %9s %9s %8s %8s\n' "$1" "$c" "$t" "$s" \
		"$( [ "${c%.*}" -gt 0 ] 2>/dev/null && ratio "$t" "$c" || echo -)" \
		"$( [ "${c%.*}" -gt 0 ] 2>/dev/null && ratio "$s" "$c" || echo -)"
}
row "wall time" 1
row "virtiofsd + VMM spawned" 2
row "VMM spawn to agent ready (boot, or restore)" 3
row "  restore: template memory into the memfd" 7
row "  agent: Hello (+ Reseed, MountShared)" 8
row "container create" 4
row "container start to exit" 5
row "teardown (power-off, VMM exit, cleanup)" 6
echo

source "$root/bench/lib.sh"
idle_cmd="trap 'exit 0' TERM; echo idle-ready; while :; do sleep 1; done"
declare -A pss
for m in "${modes[@]}"; do
	cocoon_m "$m" run --debug --rootfs "$work/rootfs" -- sh -c "$idle_cmd" >"$work/idle.out" 2>"$work/idle.err" &
	pids=($!)
	wait_for "$work/idle.out" idle-ready
	sleep 3 # let the guest settle
	pss[$m]=$(pss_kb "${pids[0]}" descendants) # VMM + virtiofsd
	[ "$m" = cold ] || grep -q "restored from template" "$work/idle.err" ||
		{ echo "bench: the idle $m sandbox was not restored" >&2; exit 1; }
	kill "${pids[0]}"
	wait "${pids[0]}" 2>/dev/null || true
	pids=()
	for j in $(seq 1 1200); do workers || break; sleep 0.1; done
done
echo "host memory of one idle sandbox (PSS of VMM + virtiofsd, kB; a spare's pages count"
echo "where they are mapped, though charged to the filler's cgroup):"
printf '  %-48s %9s %9s %9s %8s %8s\n' "" "${pss[cold]}" "${pss[copy]}" "${pss[spare]}" \
	"$(ratio "${pss[copy]}" "${pss[cold]}")" "$(ratio "${pss[spare]}" "${pss[cold]}")"
