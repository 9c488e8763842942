# shellcheck shell=bash
# Functions shared by the host scripts. Sourced, never run; no side effects on load.

log() {
  printf 'cryptotrades-host: %s\n' "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}

# require NAME...: every named variable is set and non-empty, else stop and say which.
require() {
  local name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      die "$name is not set (it comes from /etc/cryptotrades/host.env, written by user data)"
    fi
  done
}

# require_digits NAME...: every named variable is a whole number.
require_digits() {
  local name
  for name in "$@"; do
    case "${!name:-}" in
      '' | *[!0-9]*) die "$name=${!name:-} is not a whole number" ;;
    esac
  done
}

# retry ATTEMPTS COMMAND...: run COMMAND until it succeeds, waiting 5 s, 10 s, 15 s... between tries.
retry() {
  local attempts=$1 n=1
  shift
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      log "gave up after $n tries: $*"
      return 1
    fi
    sleep $((n * 5))
    n=$((n + 1))
  done
}

# fetch URL OUT: one HTTPS download that gives up instead of hanging: 10 s to connect, a total
# time limit (CRYPTOTRADES_DOWNLOAD_SECONDS, default 300), curl's own retries of transient
# failures (refused connections included), and never a partial file left at OUT.
fetch() {
  local url=$1 out=$2
  if ! curl -fsSL --proto '=https' --connect-timeout 10 --max-time "${CRYPTOTRADES_DOWNLOAD_SECONDS:-300}" \
    --retry 3 --retry-delay 5 --retry-connrefused -o "$out.part" "$url"; then
    rm -f "$out.part"
    log "download failed: $url"
    return 1
  fi
  mv -f "$out.part" "$out"
}

# fetch_first OUT URL...: the first of the mirrors that answers, in order; its URL on stdout.
fetch_first() {
  local out=$1 url
  shift
  for url in "$@"; do
    if fetch "$url" "$out"; then
      printf '%s\n' "$url"
      return 0
    fi
  done
  log "no mirror had it: $*"
  return 1
}

# published_sha512 FILE: the digest in an Apache .sha512 file, lowercase, on stdout.
# Accepts both formats Apache projects publish: gpg --print-md ("NAME: 1A2B 3C4D ..." folded over
# lines) and sha512sum ("1a2b3c4d...  NAME").
published_sha512() {
  local text
  text=$(tr -d '\r' <"$1")
  case "$text" in
    *:*) text=${text#*:} ;;
    *) text=${text%%[[:space:]]*} ;;
  esac
  text=$(printf '%s' "$text" | tr -d '[:space:]' | tr 'A-F' 'a-f')
  if ! [[ $text =~ ^[0-9a-f]{128}$ ]]; then
    log "no SHA-512 digest in $1"
    return 1
  fi
  printf '%s\n' "$text"
}

# verify_sha512 FILE EXPECTED: the file's SHA-512 is EXPECTED (lowercase hex), else fail naming both.
verify_sha512() {
  local actual
  actual=$(sha512sum "$1" | cut -d' ' -f1)
  if [ "$actual" != "$2" ]; then
    log "SHA-512 mismatch for $1: expected $2, got $actual"
    return 1
  fi
}
