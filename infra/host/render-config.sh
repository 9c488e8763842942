#!/usr/bin/env bash
# Renders the Kafka host's configuration from the environment (the values of
# /etc/cryptotrades/host.env plus the addresses install.sh found) into ROOT: "/" on the host,
# a temp dir in the tests. Pure text: no network, no services, no package manager.
#
#   render-config.sh ROOT
#
# Writes, under ROOT:
#   etc/kafka/server.properties        the broker (KRaft, single node; ec2 mode only)
#   etc/cryptotrades/kafka.env         the broker's JVM settings (ec2 mode only)
#   etc/cryptotrades/topic.properties  the topic's settings, applied by create-topic.sh
#   etc/cryptotrades/topic.env         where and how create-topic.sh creates it
#   etc/cryptotrades/client.properties Kafka CLI client settings (TLS to MSK, plaintext on the host)
#   etc/cryptotrades/vector.toml       the repo's vector/vector.toml (plus TLS to the brokers on MSK)
#   etc/cryptotrades/vector.env        Vector's environment: exactly what vector/vector.toml reads
#   etc/cryptotrades/producer.env      the producer's environment (EnvironmentFile of its unit)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

root=${1:?usage: render-config.sh ROOT}

require CRYPTOTRADES_KAFKA_MODE CRYPTOTRADES_KAFKA_BOOTSTRAP CRYPTOTRADES_TOPIC CRYPTOTRADES_BUCKET AWS_REGION \
  CRYPTOTRADES_VECTOR_TOML
[ -r "$CRYPTOTRADES_VECTOR_TOML" ] || die "CRYPTOTRADES_VECTOR_TOML=$CRYPTOTRADES_VECTOR_TOML is not a readable file"
require_digits CRYPTOTRADES_TOPIC_PARTITIONS CRYPTOTRADES_TOPIC_REPLICATION \
  CRYPTOTRADES_TOPIC_RETENTION_MS CRYPTOTRADES_TOPIC_SEGMENT_MS
# Time retention deletes only closed segments: a segment must roll well before the retention
# time, or the data outlives it by up to segment.ms.
if [ "$CRYPTOTRADES_TOPIC_SEGMENT_MS" -ge "$CRYPTOTRADES_TOPIC_RETENTION_MS" ]; then
  die "CRYPTOTRADES_TOPIC_SEGMENT_MS=$CRYPTOTRADES_TOPIC_SEGMENT_MS must be below" \
    "CRYPTOTRADES_TOPIC_RETENTION_MS=$CRYPTOTRADES_TOPIC_RETENTION_MS, or retention cannot hold"
fi
case "$CRYPTOTRADES_KAFKA_MODE" in
  ec2) tls=false ;;
  msk) tls=true ;;
  *) die "CRYPTOTRADES_KAFKA_MODE=$CRYPTOTRADES_KAFKA_MODE: expected ec2 or msk" ;;
esac
# The retention checker runs every 5 minutes by default, which lets 5-minute data live for up
# to 10; every 30 s keeps the promise within a segment and a half.
retention_check_ms=30000

# write PATH MODE: stdin to ROOT/PATH, replaced atomically so a starting service never reads
# half a file.
write() {
  local target="$root/$1" mode=$2 tmp
  mkdir -p "$(dirname "$target")"
  tmp=$(mktemp "$target.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$target"
}

if [ "$CRYPTOTRADES_KAFKA_MODE" = ec2 ]; then
  require CRYPTOTRADES_KAFKA_HOST CRYPTOTRADES_KAFKA_DATA_DIR CRYPTOTRADES_KAFKA_HEAP
  write etc/kafka/server.properties 0644 <<PROPERTIES
# Rendered by render-config.sh from /etc/cryptotrades/host.env; edits here are overwritten.
# One node is both broker and KRaft controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
controller.listener.names=CONTROLLER
# Clients (the producer and Vector, both on this host) use the host's private address; the
# security group admits nobody else.
listeners=PLAINTEXT://$CRYPTOTRADES_KAFKA_HOST:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://$CRYPTOTRADES_KAFKA_HOST:9092
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$CRYPTOTRADES_KAFKA_DATA_DIR
num.partitions=$CRYPTOTRADES_TOPIC_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
log.retention.ms=$CRYPTOTRADES_TOPIC_RETENTION_MS
log.roll.ms=$CRYPTOTRADES_TOPIC_SEGMENT_MS
log.retention.check.interval.ms=$retention_check_ms
PROPERTIES
  write etc/cryptotrades/kafka.env 0644 <<ENV
KAFKA_HEAP_OPTS="-Xms$CRYPTOTRADES_KAFKA_HEAP -Xmx$CRYPTOTRADES_KAFKA_HEAP"
LOG_DIR=/var/log/kafka
ENV
fi

write etc/cryptotrades/topic.properties 0644 <<PROPERTIES
retention.ms=$CRYPTOTRADES_TOPIC_RETENTION_MS
segment.ms=$CRYPTOTRADES_TOPIC_SEGMENT_MS
cleanup.policy=delete
PROPERTIES

write etc/cryptotrades/topic.env 0644 <<ENV
CRYPTOTRADES_KAFKA_BOOTSTRAP=$CRYPTOTRADES_KAFKA_BOOTSTRAP
CRYPTOTRADES_TOPIC=$CRYPTOTRADES_TOPIC
CRYPTOTRADES_TOPIC_PARTITIONS=$CRYPTOTRADES_TOPIC_PARTITIONS
CRYPTOTRADES_TOPIC_REPLICATION=$CRYPTOTRADES_TOPIC_REPLICATION
ENV

# MSK's brokers present certificates from Amazon's public CAs: the JVM's trust store holds
# them, and librdkafka (producer, Vector) is pointed at the system's bundle.
ca_bundle=/etc/pki/tls/certs/ca-bundle.crt
if [ "$tls" = true ]; then
  write etc/cryptotrades/client.properties 0644 <<<"security.protocol=SSL"
  producer_kafka_options="security.protocol=ssl,ssl.ca.location=$ca_bundle"
else
  write etc/cryptotrades/client.properties 0644 <<<"security.protocol=PLAINTEXT"
  producer_kafka_options=""
fi

# vector.toml is shared with the one-box and has no TLS switch; on MSK a sub-table of the
# Kafka source turns TLS on (TOML allows a sub-table after its parent's other tables).
{
  cat "$CRYPTOTRADES_VECTOR_TOML"
  if [ "$tls" = true ]; then
    printf '\n# Added by render-config.sh: the brokers are Amazon MSK, TLS only.\n'
    printf '[sources.binance_trades.tls]\nenabled = true\nca_file = "%s"\n' "$ca_bundle"
  fi
} | write etc/cryptotrades/vector.toml 0644

write etc/cryptotrades/vector.env 0644 <<ENV
CRYPTOTRADES_KAFKA_BOOTSTRAP=$CRYPTOTRADES_KAFKA_BOOTSTRAP
CRYPTOTRADES_BUCKET=$CRYPTOTRADES_BUCKET
AWS_REGION=$AWS_REGION
ENV

write etc/cryptotrades/producer.env 0644 <<ENV
CRYPTOTRADES_KAFKA_BOOTSTRAP=$CRYPTOTRADES_KAFKA_BOOTSTRAP
CRYPTOTRADES_TOPIC=$CRYPTOTRADES_TOPIC
CRYPTOTRADES_KAFKA_OPTIONS=$producer_kafka_options
ENV

log "rendered configuration for $CRYPTOTRADES_KAFKA_MODE mode into $root"
