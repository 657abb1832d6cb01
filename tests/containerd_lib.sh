# Helpers for tests that drive a real containerd (Debian's 1.6) with the cocoon shim.
# Each test starts its own containerd: root, state, sockets and config under $T, the
# shim found through PATH (build/bin first), state of the shim's sandboxes in
# $COCOON_STATE_DIR. Stop it with ctd_stop before the test returns.

CTD_NS=cocoon-test
IMG=docker.io/library/busybox:cocoon
# The CRI sandbox (pause) image: the same busybox, sleeping until killed.
PAUSE_IMG=docker.io/library/pause:cocoon
RUNTIME=io.containerd.cocoon.v2

ctr_() {
	ctr --address "$CTD_SOCK" -n "$CTD_NS" "$@"
}

# An OCI image layout tar of a busybox rootfs (busybox-static), named NAME (default
# $IMG) whose command is CMD (a JSON array, default ["sh"]). Made once per run when
# tests/run.sh gives COCOON_TEST_CACHE (a directory of the run's own), and copied from
# there: making one took ~2 s of each containerd test in the lab's L1.
make_busybox_oci() { # OUT.tar [NAME CMD]
	local name=${2:-$IMG} cmd=${3:-'["sh"]'} cached
	if [ -n "${COCOON_TEST_CACHE:-}" ]; then
		cached=$COCOON_TEST_CACHE/oci-$(printf '%s %s' "$name" "$cmd" | sha256sum | cut -c1-16).tar
		if [ ! -f "$cached" ]; then
			COCOON_TEST_CACHE= make_busybox_oci "$T/oci-new.tar" "$name" "$cmd" &&
				mv "$T/oci-new.tar" "$cached.$$" && mv "$cached.$$" "$cached" || return 1
		fi
		cp "$cached" "$1"
		return
	fi
	local d=$T/oci rootfs=$T/oci-rootfs
	mkdir -p "$d/blobs/sha256"
	make_rootfs "$rootfs"
	tar -C "$rootfs" --owner=0 --group=0 --numeric-owner -cf "$T/layer.tar" .
	rm -rf "$rootfs"
	local layer layer_size config config_size manifest manifest_size
	layer=$(sha256sum "$T/layer.tar" | cut -d' ' -f1)
	layer_size=$(stat -c %s "$T/layer.tar")
	mv "$T/layer.tar" "$d/blobs/sha256/$layer"
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$cmd" "$layer" >"$T/config.json"
	config=$(sha256sum "$T/config.json" | cut -d' ' -f1)
	config_size=$(stat -c %s "$T/config.json")
	mv "$T/config.json" "$d/blobs/sha256/$config"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$config" "$config_size" "$layer" "$layer_size" >"$T/manifest.json"
	manifest=$(sha256sum "$T/manifest.json" | cut -d' ' -f1)
	manifest_size=$(stat -c %s "$T/manifest.json")
	mv "$T/manifest.json" "$d/blobs/sha256/$manifest"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"cocoon"}}]}' \
		"$manifest" "$manifest_size" "$name" >"$d/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
	tar -C "$d" -cf "$1" oci-layout index.json blobs
	rm -rf "$d"
}

# Starts containerd; with "cri" the CRI plugin is on (handler `cocoon`, with the runtime
# option ConfigPath=$CTD_COCOON_CONFIG when that is set) and the CRI client is launched,
# else off.
ctd_start() { # [cri]
	CTD=$T/ctd
	CTD_SOCK=$CTD/containerd.sock
	command -v containerd >/dev/null || fail "containerd is not installed (scripts/install-deps.sh installs it)"
	[ -x "$ROOT/build/bin/containerd-shim-cocoon-v2" ] || fail "build/bin/containerd-shim-cocoon-v2 missing: run make"
	mkdir -p "$CTD" "$T/cni"
	trap ctd_stop EXIT
	# The CRI client starts meanwhile (cri_client_start waits for it).
	[ "${1:-}" = cri ] && cri_client_launch "$CTD_SOCK"
	local disabled='"io.containerd.grpc.v1.cri"'
	[ "${1:-}" = cri ] && disabled=''
	rm -f "$CTD/cri"
	[ "${1:-}" = cri ] && touch "$CTD/cri"
	cat >"$CTD/config.toml" <<TOML
version = 2
root = "$CTD/root"
state = "$CTD/state"
disabled_plugins = [$disabled]
[grpc]
  address = "$CTD_SOCK"
[ttrpc]
  address = "$CTD_SOCK.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMG"
  # Parallel tests each run a containerd: no fixed port for the exec/attach server.
  stream_server_port = "0"
  # Lowering oom_score_adj (-998 for pause) needs CAP_SYS_RESOURCE, which a CI container
  # may lack: runc then fails ("failed to update /proc/self/oom_score_adj").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cocoon]
      runtime_type = "$RUNTIME"
$([ -n "${CTD_COCOON_CONFIG:-}" ] && printf '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cocoon.options]\n        ConfigPath = "%s"\n' "$CTD_COCOON_CONFIG")
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$T/cni"
TOML
	PATH="$ROOT/build/bin:$PATH" containerd --config "$CTD/config.toml" >"$CTD/containerd.log" 2>&1 &
	echo $! >"$CTD/pid"
	local i
	for i in $(seq 100); do
		ctr_ version >/dev/null 2>&1 && break
		kill -0 "$(cat "$CTD/pid")" 2>/dev/null || { tail -20 "$CTD/containerd.log"; fail "containerd exited"; }
		sleep 0.1
	done
	ctr_ version >/dev/null 2>&1 || fail "containerd did not come up"
	[ -f "$T/busybox.tar" ] || make_busybox_oci "$T/busybox.tar" || fail "making the busybox image"
	if [ "${1:-}" = cri ]; then
		# The CRI plugin works in its own namespace, and only there.
		[ -f "$T/pause.tar" ] || make_busybox_oci "$T/pause.tar" "$PAUSE_IMG" '["sleep","1000000000"]' ||
			fail "making the pause image"
		ctr --address "$CTD_SOCK" -n k8s.io images import "$T/busybox.tar" >/dev/null &&
			ctr --address "$CTD_SOCK" -n k8s.io images import "$T/pause.tar" >/dev/null ||
			fail "image import (k8s.io) failed"
	else
		ctr_ images import "$T/busybox.tar" >/dev/null || fail "image import failed"
	fi
}

# The CRI test client (tests/cri) needs @grpc/grpc-js and @grpc/proto-loader from npm:
# installed once into a cache outside the clone, keyed by tests/cri/package.json.
cri_client_setup() {
	command -v node >/dev/null || fail "node is not installed (the CRI client is in JavaScript; scripts/install-deps.sh installs it)"
	local key dir
	key=$(sha256sum "$ROOT/tests/cri/package.json" | cut -c1-16)
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/cocoon/npm-$key
	if [ ! -d "$dir/node_modules/@grpc/grpc-js" ]; then
		mkdir -p "$(dirname "$dir")"
		(
			flock 9
			[ -d "$dir/node_modules/@grpc/grpc-js" ] && exit 0
			rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" &&
				cp "$ROOT/tests/cri/package.json" "$dir.tmp/" &&
				npm install --prefix "$dir.tmp" --no-audit --no-fund --loglevel=error >&2 &&
				rm -rf "$dir" && mv "$dir.tmp" "$dir"
		) 9>"$dir.lock" || fail "npm install of the CRI client's packages failed"
	fi
	export NODE_PATH=$dir/node_modules
}

# The CRI client as one process for the whole test (cri.js serve): starting node with
# grpc-js and the CRI proto costs 7-10 s in the lab's L1, and a CRI test makes dozens of
# calls. ctd_stop stops it.
# cri_client_launch starts it (it dials containerd at its first call, so it may start
# first, beside containerd: both take seconds in the lab); cri_client_start waits for
# it to serve.
cri_client_launch() { # CONTAINERD_SOCKET
	cri_client_setup
	CRI_CLIENT=$T/cri-client.sock
	node "$ROOT/tests/cri/cri.js" "$1" serve "$CRI_CLIENT" >"$T/cri-client.log" 2>&1 &
	CRI_CLIENT_PID=$!
}
cri_client_start() {
	[ -n "${CRI_CLIENT_PID:-}" ] || cri_client_launch "$CTD_SOCK"
	local i
	for i in $(seq 1200); do
		[ -S "$CRI_CLIENT" ] && return 0
		kill -0 "$CRI_CLIENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "the CRI client did not start: $(cat "$T/cri-client.log")"
}

cri_client_stop() {
	[ -n "${CRI_CLIENT_PID:-}" ] || return 0
	kill "$CRI_CLIENT_PID" 2>/dev/null
	wait "$CRI_CLIENT_PID" 2>/dev/null
	CRI_CLIENT_PID=
	rm -f "$CRI_CLIENT"
}

# One CRI RuntimeService call (tests/cri/cri.js); prints the reply as JSON, or the
# error on stderr and fails.
cri_() { # METHOD [JSON]
	if [ -z "${CRI_CLIENT_PID:-}" ]; then
		timeout 300 node "$ROOT/tests/cri/cri.js" "$CTD_SOCK" "$@"
		return
	fi
	local out
	if out=$(curl -sS --max-time 300 --fail-with-body --unix-socket "$CRI_CLIENT" \
		--data-binary "${2:-}" "http://cri/$1"); then
		printf '%s\n' "$out"
	else
		printf '%s\n' "${out:-$1: no reply from the CRI client ($(tail -c 300 "$T/cri-client.log"))}" >&2
		return 1
	fi
}

# Restarts containerd with the same config, leaving its shims running (as systemd would
# on an upgrade).
ctd_restart() {
	local pid i
	pid=$(cat "$CTD/pid")
	kill "$pid"
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid" 2>/dev/null
	PATH="$ROOT/build/bin:$PATH" containerd --config "$CTD/config.toml" >>"$CTD/containerd.log" 2>&1 &
	echo $! >"$CTD/pid"
	for i in $(seq 100); do ctr_ version >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "containerd did not come back"
}

# Stops containerd after removing what it still runs (as an operator would), then
# unmounts what containerd left under its root.
ctd_stop() {
	local c ns p
	[ -f "$CTD/pid" ] || return 0
	# CRI pods go through CRI, so that CNI tears down their netns, veth and address.
	if [ -f "$CTD/cri" ]; then
		for p in $(cri_ ListPodSandbox 2>/dev/null | jq -r '.items[].id'); do
			cri_ StopPodSandbox "{\"pod_sandbox_id\":\"$p\"}" >/dev/null 2>&1
			cri_ RemovePodSandbox "{\"pod_sandbox_id\":\"$p\"}" >/dev/null 2>&1
		done
	fi
	for ns in "$CTD_NS" k8s.io; do
		for c in $(ctr --address "$CTD_SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
			ctr --address "$CTD_SOCK" -n "$ns" tasks kill -s SIGKILL "$c" >/dev/null 2>&1
			ctr --address "$CTD_SOCK" -n "$ns" tasks rm -f "$c" >/dev/null 2>&1
		done
		for c in $(ctr --address "$CTD_SOCK" -n "$ns" containers ls -q 2>/dev/null); do
			ctr --address "$CTD_SOCK" -n "$ns" containers rm "$c" >/dev/null 2>&1
		done
	done
	cri_client_stop
	local pid
	pid=$(cat "$CTD/pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$CTD/pid"
	grep -- "$CTD" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount 2>/dev/null
	true
}

# The shim socket of a container started without CRI (sha256 of address/ns/id).
# Waits up to 5 s for PATH to disappear.
wait_gone() { # PATH
	local i
	for i in $(seq 50); do [ -e "$1" ] || return 0; sleep 0.1; done
	return 1
}

shim_socket() { # ID
	printf '/run/containerd/s/%s' "$(printf '%s/%s/%s' "$CTD_SOCK" "$CTD_NS" "$1" | sha256sum | cut -d' ' -f1)"
}

shim_pid() { # ID
	pgrep -f -- "containerd-shim-cocoon-v2 -namespace $CTD_NS -id $1 -address $CTD_SOCK" | head -1
}

ctd_log_tail() {
	echo "--- containerd log (tail)"
	grep -v "level=debug" "$CTD/containerd.log" | tail -40
}

# $T/cocoon.conf for `ctr run --runtime-config-path`: the suite's config (the backend
# under test, the lab's boot timeout, template = off), then LINES. A runtime config
# path replaces COCOON_CONFIG, so a test's own settings must not drop the suite's.
suite_config() { # LINES (printf format)
	{
		[ -n "${COCOON_CONFIG:-}" ] && cat "$COCOON_CONFIG"
		# shellcheck disable=SC2059
		printf "$1"
	} >"$T/cocoon.conf"
}
