#!/usr/bin/env bash
# Creates the topic if it is missing and (re)applies its settings, so a topic made by an older
# release gets today's retention too. Run by cryptotrades-topic.service once the broker is up,
# on every boot. Reads topic.env (via the unit), topic.properties and client.properties.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

conf=${CRYPTOTRADES_CONF_DIR:-/etc/cryptotrades}
kafka_bin=${KAFKA_HOME:-/opt/kafka}/bin
# A broker formatting its storage on first boot takes a while; waiting is cheap.
wait_seconds=${CRYPTOTRADES_TOPIC_WAIT_SECONDS:-600}
poll_seconds=${CRYPTOTRADES_TOPIC_POLL_SECONDS:-5}

require CRYPTOTRADES_KAFKA_BOOTSTRAP CRYPTOTRADES_TOPIC
require_digits CRYPTOTRADES_TOPIC_PARTITIONS CRYPTOTRADES_TOPIC_REPLICATION wait_seconds poll_seconds
properties="$conf/topic.properties"
client="$conf/client.properties"
[ -r "$properties" ] || die "$properties is missing (render-config.sh writes it)"
[ -r "$client" ] || die "$client is missing (render-config.sh writes it)"

create_args=()
settings=()
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    '' | '#'*) continue ;;
    *=*) ;;
    *) die "$properties: '$line' is not key=value" ;;
  esac
  create_args+=(--config "$line")
  settings+=("$line")
done <"$properties"
[ "${#settings[@]}" -gt 0 ] || die "$properties holds no settings"

kafka() {
  local tool=$1
  shift
  "$kafka_bin/$tool" --bootstrap-server "$CRYPTOTRADES_KAFKA_BOOTSTRAP" --command-config "$client" "$@"
}

deadline=$((SECONDS + wait_seconds))
until kafka kafka-topics.sh --list >/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "no broker answered at $CRYPTOTRADES_KAFKA_BOOTSTRAP within $wait_seconds s"
  fi
  log "waiting for the broker at $CRYPTOTRADES_KAFKA_BOOTSTRAP"
  sleep "$poll_seconds"
done

kafka kafka-topics.sh --create --if-not-exists --topic "$CRYPTOTRADES_TOPIC" \
  --partitions "$CRYPTOTRADES_TOPIC_PARTITIONS" \
  --replication-factor "$CRYPTOTRADES_TOPIC_REPLICATION" "${create_args[@]}"
joined=$(IFS=,; printf '%s' "${settings[*]}")
kafka kafka-configs.sh --alter --entity-type topics --entity-name "$CRYPTOTRADES_TOPIC" --add-config "$joined"
kafka kafka-topics.sh --describe --topic "$CRYPTOTRADES_TOPIC" >&2
log "topic $CRYPTOTRADES_TOPIC ready: $joined"
