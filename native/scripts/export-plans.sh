#!/usr/bin/env bash
# Writes native/scripts/plans/<name>.json for every line of plans.txt with `kvr export-plan`, so
# hosts without Node (the GPU machine) run exactly the simulator's plans. Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
mkdir -p native/scripts/plans
grep -v '^\s*#' native/scripts/plans.txt | grep -v '^\s*$' | while IFS='|' read -r name args; do
  name="$(echo "$name" | xargs)"
  # shellcheck disable=SC2086
  node bin/kvr.js export-plan $args > "native/scripts/plans/$name.json"
  echo "wrote native/scripts/plans/$name.json"
done
