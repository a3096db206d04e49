#!/usr/bin/env bash
# Regenerate completions/ for bash, zsh and fish from the installed `nmrpeak` console script.
# Usage: scripts/gen_completions.sh [--check]   (--check: fail if the checked-in files differ)
set -euo pipefail
cd "$(dirname "$0")/.."
out=completions
check=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
_NMRPEAK_COMPLETE=source_bash nmrpeak > "$tmp/nmrpeak.bash"
_NMRPEAK_COMPLETE=source_zsh nmrpeak > "$tmp/_nmrpeak"
_NMRPEAK_COMPLETE=source_fish nmrpeak > "$tmp/nmrpeak.fish"
if [ "$check" = "--check" ]; then
  diff -r "$tmp" "$out" && echo "completions up to date"
else
  mkdir -p "$out" && cp "$tmp"/* "$out"/ && echo "wrote $out/"
fi
