#!/usr/bin/env bash
# Fresh-machine setup (Debian bookworm, run as root, idempotent):
#  1. a Vulkan driver Dawn accepts (Mesa >= 25 lavapipe from bookworm-backports when no GPU driver is present);
#  2. Debian's chromium, which the web UI's page test drives (playwright-core with executablePath);
#  3. pnpm (pinned through package.json's packageManager) and the workspace install;
#  4. build all packages;
#  5. Debian packages the tests run against (redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# Mesa major version of the installed lavapipe, 0 when absent.
mesa_major() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] || { echo 0; return; }
  v=${v#*:}
  echo "${v%%.*}"
}

# A vendor (non-Mesa) ICD such as NVIDIA's means a real GPU driver: leave the system alone.
has_vendor_icd() {
  local f
  for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in
      lvp_icd*|intel_*|radeon_*|virtio_*|gfxstream_*|nouveau_*|asahi_*|freedreno_*|panfrost_*|broadcom_*|powervr_*|dzn_*) ;;
      *) return 0 ;;
    esac
  done
  return 1
}

install_vulkan() {
  if has_vendor_icd; then log "GPU Vulkan driver present; leaving drivers alone"; return; fi
  if [ "$(mesa_major)" -ge 25 ] && dpkg-query -W libvulkan1 >/dev/null 2>&1; then
    log "Mesa $(mesa_major) lavapipe already installed"; return
  fi
  if ! command -v apt-get >/dev/null; then log "no apt-get: install a Vulkan driver (Mesa >= 25) yourself"; return; fi
  local src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    # Add bookworm-backports next to 'bookworm' on the stanza that already lists it; the mirror stays the machine's own.
    if ! grep -Eq '^Suites:.*\bbookworm-backports\b' "$src"; then
      sed -i -E '/^Suites:/{/(^|[[:space:]])bookworm([[:space:]]|$)/s/$/ bookworm-backports/}' "$src"
      log "added bookworm-backports to $src"
    fi
  elif [ -f /etc/apt/sources.list ]; then
    if ! grep -Rq 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
      # Reuse the first bookworm main line's mirror.
      local line
      line=$(grep -E '^deb [^ ]+ bookworm ' /etc/apt/sources.list | head -n1)
      [ -n "$line" ] || { log "cannot find a bookworm apt source"; exit 1; }
      echo "${line/ bookworm / bookworm-backports }" > /etc/apt/sources.list.d/backports.list
      log "added backports list derived from /etc/apt/sources.list"
    fi
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  log "installed Mesa $(mesa_major) lavapipe"
}

install_chromium() {
  if command -v chromium >/dev/null; then log "chromium already installed"; return; fi
  if ! command -v apt-get >/dev/null; then log "no apt-get: install chromium yourself (the web page test needs /usr/bin/chromium)"; return; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  log "installed $(chromium --version 2>/dev/null || echo chromium)"
}

install_node_deps() {
  local want
  want=$(node -p "require('./package.json').packageManager.split('@')[1]")
  if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
    log "installing pnpm@$want"
    npm install -g --silent "pnpm@$want" >/dev/null
  fi
  pnpm install --frozen-lockfile --reporter=silent
}

# Debian packages the tests use as real peers: redis-server (the BullMQ queue tests start their own on a
# loopback port; nothing is started here).
install_test_peers() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return
  if ! command -v apt-get >/dev/null; then log "no apt-get: install ${missing[*]} yourself"; return; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "installed ${missing[*]}"
}

install_vulkan
install_test_peers
install_chromium
install_node_deps
pnpm -s build
log "done"
