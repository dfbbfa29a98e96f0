# shellcheck shell=bash
# Shared helpers for scripts/testbed, scripts/demo and scripts/test. Source it, don't run it.

# Repository root (the parent of scripts/).
OPSDECK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export OPSDECK_ROOT

# Where the test bed keeps its state (keys, configs, logs, pid files, cached root filesystems).
OPSDECK_TESTBED=${OPSDECK_TESTBED:-/var/tmp/opsdeck-testbed}
export OPSDECK_TESTBED

# The compose command as a string: "docker compose" (v2 plugin) if it works, else "docker-compose".
compose_cmd() {
  if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose"
  else
    return 1
  fi
}

# Run the detected compose command with the given arguments.
compose() {
  local c
  c=$(compose_cmd) || { echo "no docker compose / docker-compose found" >&2; return 1; }
  # shellcheck disable=SC2086 # "docker compose" must split into two words
  $c "$@"
}

# Export every KEY=VALUE line of an env file (no quoting, values may contain spaces).
load_env_file() {
  local k v
  while IFS='=' read -r k v || [ -n "$k" ]; do
    case $k in '' | \#*) continue ;; esac
    export "$k=$v"
  done <"$1"
}

# Make rustup's cargo the one on PATH.
use_rustup_path() {
  case ":$PATH:" in
    *":$HOME/.cargo/bin:"*) ;;
    *) PATH="$HOME/.cargo/bin:$PATH" ;;
  esac
  export PATH
}

# dockerd, sshd, useradd and friends live in sbin; CI's PATH may lack it.
case ":$PATH:" in
  *":/usr/sbin:"*) ;;
  *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;;
esac
export PATH
