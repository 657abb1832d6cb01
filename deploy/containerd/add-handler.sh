#!/bin/bash
# Adds (or replaces) the `cocoon` runtime handler in a containerd 1.6 config.toml,
# keeping everything else in it: the block from deploy/containerd/cocoon.toml goes
# between marker lines at the end, so running this again replaces it.
# Usage: deploy/containerd/add-handler.sh CONFIG.toml
set -euo pipefail
cfg=${1:?usage: add-handler.sh CONFIG.toml}
block=$(dirname "$0")/cocoon.toml
begin='# BEGIN cocoon runtime handler (deploy/containerd/add-handler.sh)'
end='# END cocoon runtime handler'
grep -qE '^version *= *2' "$cfg" || { echo "$cfg: not a version 2 containerd config" >&2; exit 1; }
tmp=$(mktemp "$cfg.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -v b="$begin" -v e="$end" '$0 == b {skip=1} !skip {print} $0 == e {skip=0}' "$cfg" >"$tmp"
if grep -q 'runtimes\.cocoon\]' "$tmp"; then
	echo "$cfg already defines runtimes.cocoon outside the managed block: remove it first" >&2
	exit 1
fi
{ echo "$begin"; cat "$block"; echo "$end"; } >>"$tmp"
chmod --reference="$cfg" "$tmp"
mv "$tmp" "$cfg"
trap - EXIT
