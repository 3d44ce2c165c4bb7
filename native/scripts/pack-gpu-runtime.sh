#!/usr/bin/env bash
# Packs what a GPU host without Node or network needs to run the TypeScript CLI (kvr calibrate,
# kvr validate) on the CUDA backend; run it here, before a GPU session:
#   native/scripts/pack-gpu-runtime.sh
# Writes (both git-ignored, both carried to the GPU host: carry [".devtools", "dist"]):
#   dist/                      the compiled CLI (npx tsc -p .)
#   .devtools/node.xz          this machine's node binary, xz-compressed
#   .devtools/node_modules/    the runtime packages the CLI loads, and what building the addon
#                              with plain cmake needs:
#                                commander (whole), mathjs (package.json + lib/browser/math.js and
#                                the lib/browser/package.json that marks it CommonJS),
#                                node-addon-api (napi.h), node-api-headers (node_api.h)
# and prints the sizes: the device tool carries at most 64 MiB of ignored paths, so this fails
# above KVR_PACK_LIMIT_MIB (default 56). native/scripts/gpu-run.sh unpacks and uses it.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
limit_mib="${KVR_PACK_LIMIT_MIB:-56}"
dev="$root/.devtools"
modules="$root/node_modules"

node_bin="$(command -v node || true)"
[[ -n "$node_bin" ]] || { echo "pack-gpu-runtime: node not found on PATH" >&2; exit 2; }
for package in commander mathjs node-addon-api node-api-headers; do
  [[ -f "$modules/$package/package.json" ]] || { echo "pack-gpu-runtime: $modules/$package missing: run npm install" >&2; exit 2; }
done

echo "[pack] compiling the CLI into dist/"
npx tsc -p .

version="$("$node_bin" --version)"
mkdir -p "$dev"
rm -rf "$dev/node_modules" "$dev/node.xz.tmp"
# Compressing takes half a minute: keep a node.xz made from this same binary.
if [[ -f "$dev/node.xz" && "$dev/node.xz" -nt "$node_bin" && "$(cat "$dev/node.version" 2>/dev/null)" == "$version $node_bin" ]]; then
  echo "[pack] node $version from $node_bin: .devtools/node.xz is up to date"
else
  echo "[pack] node $version from $node_bin -> .devtools/node.xz"
  xz -T0 -6 -c "$node_bin" >"$dev/node.xz.tmp"
  mv "$dev/node.xz.tmp" "$dev/node.xz"
  echo "$version $node_bin" >"$dev/node.version"
fi

echo "[pack] runtime node_modules -> .devtools/node_modules"
out="$dev/node_modules"
mkdir -p "$out"
cp -R "$modules/commander" "$out/"
mkdir -p "$out/mathjs/lib/browser"
cp "$modules/mathjs/package.json" "$out/mathjs/"
cp "$modules/mathjs/lib/browser/math.js" "$out/mathjs/lib/browser/"
# Without it the bundle would load as an ES module ("type": "module" in mathjs/package.json).
cp "$modules/mathjs/lib/browser/package.json" "$out/mathjs/lib/browser/"
mkdir -p "$out/node-addon-api" "$out/node-api-headers"
cp "$modules/node-addon-api/"{package.json,index.js,napi.h,napi-inl.h,napi-inl.deprecated.h} "$out/node-addon-api/"
cp -R "$modules/node-api-headers/"{package.json,index.js,symbols.js,include} "$out/node-api-headers/"

# The packed modules must be enough on their own: resolve everything from .devtools/, as the CLI
# will from the repository root once node_modules links there.
(cd "$dev" && "$node_bin" --input-type=module -e '
  import { existsSync } from "node:fs";
  import { createRequire } from "node:module";
  import { join } from "node:path";
  await import("commander");
  const math = (await import("mathjs/lib/browser/math.js")).default;
  if (typeof math.unit !== "function") throw new Error("mathjs: no unit()");
  const require = createRequire(join(process.cwd(), "x.js"));
  if (!existsSync(join(require("node-addon-api").include.replace(/"/g, ""), "napi.h"))) throw new Error("no napi.h");
  if (!existsSync(join(require("node-api-headers").include_dir, "node_api.h"))) throw new Error("no node_api.h");
') || { echo "pack-gpu-runtime: the packed node_modules do not load" >&2; exit 1; }

# And the CLI must start with nothing else: run it from a scratch copy whose node_modules is the
# packed one (a new static import of a package left out here fails now, not on the GPU host).
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -R "$root/bin" "$root/dist" "$root/package.json" "$scratch/"
ln -s "$out" "$scratch/node_modules"
for command in "calibrate --help" "validate --help" "simulate --model llama2-7b --gpu h200 --gpus 2 --context 4096 --json"; do
  # shellcheck disable=SC2086
  if ! (cd "$scratch" && "$node_bin" bin/kvr.js $command >/dev/null); then
    echo "pack-gpu-runtime: \`kvr $command\` fails with only the packed node_modules" >&2
    exit 1
  fi
done

bytes() { du -sb "$1" | cut -f1; }
total=$(($(bytes "$dev") + $(bytes "$root/dist")))
mib() { awk "BEGIN { printf \"%.1f\", $1 / 1048576 }"; }
echo "[pack] .devtools/node.xz        $(mib "$(bytes "$dev/node.xz")") MiB"
echo "[pack] .devtools/node_modules   $(mib "$(bytes "$out")") MiB"
echo "[pack] dist                     $(mib "$(bytes "$root/dist")") MiB"
echo "[pack] total (carry .devtools + dist): $(mib "$total") MiB (limit $limit_mib MiB; the device tool carries 64 MiB)"
if [[ $total -gt $((limit_mib * 1048576)) ]]; then
  echo "pack-gpu-runtime: $(mib "$total") MiB is over the $limit_mib MiB limit" >&2
  exit 1
fi
