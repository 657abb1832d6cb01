# deploy/: the containerd handler block as containerd itself reads it, and the Kubernetes
# RuntimeClasses as the API server would get them.

# deploy/containerd/add-handler.sh on a node's existing config (Debian's, plus a runc
# handler with its own options): containerd then has handler cocoon and every setting
# it had before; a second run replaces the block instead of adding another.
test_deploy_containerd_handler() {
	command -v containerd >/dev/null || fail "containerd is not installed (scripts/install-deps.sh installs it)"
	local cfg=$T/config.toml
	cat >"$cfg" <<TOML
version = 2
root = "$T/root"
state = "$T/state"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "example.test/pause:9"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
TOML
	"$ROOT/deploy/containerd/add-handler.sh" "$cfg" || fail "add-handler.sh"
	cp "$cfg" "$T/once.toml"
	"$ROOT/deploy/containerd/add-handler.sh" "$cfg" || fail "add-handler.sh, second run"
	cmp -s "$cfg" "$T/once.toml" || fail "a second run changed the file: $(diff "$T/once.toml" "$cfg")"
	local out
	out=$(containerd --config "$cfg" config dump 2>&1) || fail "containerd config dump: $out"
	assert_contains "$out" '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cocoon]' "handler cocoon"
	assert_contains "$out" 'runtime_type = "io.containerd.cocoon.v2"' "handler cocoon's runtime type"
	assert_contains "$out" 'ConfigPath = "/etc/cocoon/cocoon.conf"' "handler cocoon's ConfigPath option"
	assert_contains "$out" '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]' "runc handler kept"
	assert_contains "$out" 'SystemdCgroup = true' "runc's options kept"
	assert_contains "$out" 'sandbox_image = "example.test/pause:9"' "CRI settings kept"
	# Not a containerd 2 config: refused, file untouched.
	printf 'root = "%s"\n' "$T/root" >"$T/v1.toml"
	out=$("$ROOT/deploy/containerd/add-handler.sh" "$T/v1.toml" 2>&1) && fail "a version 1 config was accepted"
	assert_contains "$out" "not a version 2 containerd config" "error for a version 1 config"
	assert_eq "root = \"$T/root\"" "$(cat "$T/v1.toml")" "version 1 config untouched"
}

# Both RuntimeClasses: handler cocoon, a fixed overhead, a node selector; the AKS name
# is an alias of the same thing.
test_deploy_runtimeclasses() {
	python3 - "$ROOT/deploy/kubernetes/runtimeclass.yaml" <<'PY' || fail "RuntimeClass manifest"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_name = {d["metadata"]["name"]: d for d in docs}
assert set(by_name) == {"cocoon", "kata-mshv-vm-isolation"}, by_name.keys()
for name, d in by_name.items():
    assert d["apiVersion"] == "node.k8s.io/v1" and d["kind"] == "RuntimeClass", name
    assert d["handler"] == "cocoon", name
    fixed = d["overhead"]["podFixed"]
    assert fixed["memory"].endswith("Mi") and int(fixed["memory"][:-2]) > 0, fixed
    assert fixed["cpu"].endswith("m") and int(fixed["cpu"][:-1]) > 0, fixed
    assert d["scheduling"]["nodeSelector"], name
a, b = by_name["cocoon"], by_name["kata-mshv-vm-isolation"]
assert a["overhead"] == b["overhead"] and a["scheduling"] == b["scheduling"], "alias differs"
PY
	python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert d["kind"] == "Pod" and d["spec"]["runtimeClassName"] == "cocoon"' \
		"$ROOT/deploy/kubernetes/example-pod.yaml" || fail "example pod manifest"
}

# Scheduling the AKS how-to's pod unchanged: a node carries every label of its
# nodeSelector and of its RuntimeClass's scheduling.nodeSelector once install.sh labelled
# it with --kata-label (the scheduler's rule: each key equal); without --kata-label the
# how-to's own selector does not match.
test_deploy_aks_labels() {
	local with without
	with=$("$ROOT/deploy/install.sh" --print-labels --kata-label) || fail "install.sh --print-labels"
	without=$("$ROOT/deploy/install.sh" --print-labels) || fail "install.sh --print-labels"
	python3 - "$ROOT/deploy/kubernetes" "$with" "$without" <<'PY' || fail "AKS how-to pod scheduling"
import sys, yaml
d, with_, without = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
classes = {c["metadata"]["name"]: c for c in yaml.safe_load_all(open(d + "/runtimeclass.yaml")) if c}
pod = yaml.safe_load(open(d + "/aks-howto-pod.yaml"))
want = dict(pod["spec"]["nodeSelector"])
want.update(classes[pod["spec"]["runtimeClassName"]]["scheduling"]["nodeSelector"])
def fits(labels):
    node = dict(l.split("=", 1) for l in labels)
    return all(node.get(k) == str(v) for k, v in want.items())
assert want.get("workload-runtime") == "kata", want
assert fits(with_), (want, with_)
assert not fits(without), (want, without)
PY
}
