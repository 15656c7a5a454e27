#!/usr/bin/env bash
# Packs what `pnpm gpu-check` needs for a GPU machine that has no network and takes little luggage (the
# workplace's lent GPU: the working tree plus carried paths travel, 64 MiB in all). Run it here after
# scripts/setup.sh; it writes .gpu/ (gitignored):
#   node_modules.tar.xz  the workspace's installed packages, Linux x64 runtime parts only (no TypeScript
#                        compiler, no other platforms' Dawn builds, no sharp/libvips: the package loads sharp only
#                        when an image is coded, which gpu-check does only in fidelity's PNG checks, and the
#                        fixtures do not travel to the device)
#   node.xz              this machine's node binary, used there only when the machine has no node >= 20
#   *.deb                the Vulkan loader (libvulkan1), unpacked there when the machine has none
#   run.sh               the command to run there: unpacks, points Vulkan at the NVIDIA driver, runs gpu-check
# Then, with the device tool: run `bash .gpu/run.sh` with carry [".gpu"] (the report lands in $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu
limit=$((64 * 1024 * 1024))
log() { printf '[gpu-bundle] %s\n' "$*"; }

[ -d node_modules ] || { log "no node_modules: run scripts/setup.sh first"; exit 1; }
rm -rf "$out"
mkdir -p "$out"

# The web server and queue stacks (Fastify, BullMQ, Playwright) are left out: gpu-check never loads them
# (the CLI imports serve/worker lazily and the package index exports neither).
log "packing node_modules (Linux x64 runtime parts)"
nm=(node_modules)
for d in packages/*/node_modules bench/node_modules; do [ -d "$d" ] && nm+=("$d"); done
tar -cf - \
  --exclude='node_modules/.pnpm/typescript@*' \
  --exclude='node_modules/.pnpm/@img+sharp*' \
  --exclude='node_modules/.pnpm/sharp@*' \
  --exclude='*/webgpu/dist/darwin-*' --exclude='*/webgpu/dist/linux-arm64' --exclude='*/webgpu/dist/win32-*' \
  --exclude='node_modules/.pnpm/playwright-core@*' \
  --exclude='node_modules/.pnpm/fastify@*' --exclude='node_modules/.pnpm/@fastify+*' \
  --exclude='node_modules/.pnpm/bullmq@*' --exclude='node_modules/.pnpm/ioredis@*' --exclude='node_modules/.pnpm/luxon@*' \
  --exclude='node_modules/.pnpm/msgpackr*' --exclude='node_modules/.pnpm/cron-parser@*' \
  "${nm[@]}" | xz -T0 -9 > "$out/node_modules.tar.xz"

log "packing $(command -v node) ($(node --version))"
xz -T0 -9 -c "$(readlink -f "$(command -v node)")" > "$out/node.xz"

log "fetching the Vulkan loader .deb"
if command -v apt-get >/dev/null; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  opts=(-o APT::Architecture=amd64 -o APT::Architectures=amd64 -o "Dir::State::Lists=$lists")
  if apt-get "${opts[@]}" -qq update && (cd "$out" && apt-get "${opts[@]}" -qq download libvulkan1); then :; else
    log "could not download libvulkan1: the GPU machine must have a Vulkan loader of its own"
  fi
  rm -rf "$lists"
fi

cat > "$out/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: `bash .gpu/run.sh [gpu-check options]`.
set -euo pipefail
cd "$(dirname "$0")/.."
b=.gpu
report=${OUT:-bench/results}
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in "$b"/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
  ldconfig
fi
# NVIDIA's Vulkan ICD where the image keeps it outside the standard search path.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -e "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
node_ok() { command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; }
if ! node_ok; then
  mkdir -p /tmp/gpu-node
  xz -dc "$b/node.xz" > /tmp/gpu-node/node
  chmod +x /tmp/gpu-node/node
  export PATH=/tmp/gpu-node:$PATH
fi
[ -d node_modules ] || tar -xJf "$b/node_modules.tar.xz"
mkdir -p "$report"
node node_modules/tsx/dist/cli.mjs --conditions=source bench/gpuCheck.ts --out "$report/gpu-check.md" "$@"
EOF
chmod +x "$out/run.sh"

tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -n1 | cut -f1)
bundle=$(du -cb "$out"/* | tail -n1 | cut -f1)
total=$((tree + ${untracked:-0} + bundle))
log "working tree $((tree / 1048576)) MiB + untracked $((${untracked:-0} / 1048576)) MiB + .gpu $((bundle / 1048576)) MiB = $((total / 1048576)) MiB (device limit 64 MiB)"
if [ "$total" -gt "$limit" ]; then
  log "over the device limit: drop $out/node.xz if the GPU machine has node >= 20 (run.sh then uses its own)"
  exit 3
fi
log "ready: device run 'bash .gpu/run.sh' with carry [\".gpu\"]"
