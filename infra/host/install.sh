#!/usr/bin/env bash
# Turns a fresh Amazon Linux 2023 instance into the pipeline's Kafka host: Java and Apache
# Kafka (KRaft, one node) unless the brokers are Amazon MSK, Vector, the producer, and their
# systemd units. Run as root by user data on first boot from the unpacked release
# (/opt/cryptotrades/release); safe to run again, e.g. over SSM after editing host.env.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
release=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

conf=/etc/cryptotrades
[ -r "$conf/host.env" ] || die "$conf/host.env is missing (user data writes it)"
set -a
# shellcheck source=/dev/null
. "$conf/host.env"
set +a
require CRYPTOTRADES_KAFKA_MODE AWS_REGION KAFKA_VERSION KAFKA_SCALA_VERSION VECTOR_VERSION CRYPTOTRADES_PYTHON

imds() {
  local token
  token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

install_packages() {
  # Java runs the broker and Kafka's CLI tools (also needed to create the topic on MSK).
  retry 5 dnf install -y -q java-21-amazon-corretto-headless "$CRYPTOTRADES_PYTHON"
}

install_kafka() {
  local name="kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}"
  local dest="/opt/$name" url="https://archive.apache.org/dist/kafka/$KAFKA_VERSION/$name.tgz"
  if [ ! -x "$dest/bin/kafka-server-start.sh" ]; then
    local work expected
    work=$(mktemp -d)
    retry 5 curl -fsSL -o "$work/$name.tgz" "$url"
    expected=${KAFKA_SHA512:-}
    if [ -z "$expected" ]; then
      # Over HTTPS from the same Apache host: catches a truncated or swapped file; pin
      # kafkaSha512 (CDK context) to trust nothing fetched at boot.
      retry 5 curl -fsSL -o "$work/$name.tgz.sha512" "$url.sha512"
      expected=$(published_sha512 "$work/$name.tgz.sha512")
    fi
    verify_sha512 "$work/$name.tgz" "$expected" || die "refusing $url"
    tar -xzf "$work/$name.tgz" -C /opt
    chown -R root:root "$dest"
    rm -rf "$work"
  fi
  ln -sfn "$dest" /opt/kafka
}

install_vector() {
  # Vector's own package repository (run by Datadog), signed packages and metadata.
  cat >/etc/yum.repos.d/vector.repo <<'REPO'
[vector]
name=Vector
baseurl=https://yum.vector.dev/stable/vector-0/$basearch/
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=https://keys.datadoghq.com/DATADOG_RPM_KEY_CURRENT.public
       https://keys.datadoghq.com/DATADOG_RPM_KEY_B01082D3.public
       https://keys.datadoghq.com/DATADOG_RPM_KEY_FD4BF915.public
REPO
  retry 5 dnf install -y -q "vector-$VECTOR_VERSION"
  # The package's own unit would start Vector with its sample config; ours replaces it.
  if systemctl is-enabled --quiet vector.service 2>/dev/null; then
    systemctl disable --now vector.service
  fi
}

add_user() {
  id -u "$1" >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin "$1"
}

kafka_bootstrap() {
  if [ "$CRYPTOTRADES_KAFKA_MODE" = ec2 ]; then
    printf '%s:9092\n' "$CRYPTOTRADES_KAFKA_HOST"
  else
    require MSK_CLUSTER_ARN
    aws kafka get-bootstrap-brokers --region "$AWS_REGION" --cluster-arn "$MSK_CLUSTER_ARN" \
      --query BootstrapBrokerStringTls --output text
  fi
}

install_packages
install_kafka
install_vector
add_user kafka  # the producer's unit runs as a systemd DynamicUser; Vector's package adds its user

if [ "$CRYPTOTRADES_KAFKA_MODE" = ec2 ]; then
  CRYPTOTRADES_KAFKA_HOST=$(retry 5 imds local-ipv4)
  export CRYPTOTRADES_KAFKA_HOST
  install -d -o kafka -g kafka -m 0750 "$CRYPTOTRADES_KAFKA_DATA_DIR" /var/log/kafka
fi
CRYPTOTRADES_KAFKA_BOOTSTRAP=$(retry 10 kafka_bootstrap)
CRYPTOTRADES_VECTOR_TOML="$release/vector/vector.toml"
export CRYPTOTRADES_KAFKA_BOOTSTRAP CRYPTOTRADES_VECTOR_TOML
bash "$here/render-config.sh" /

units=(cryptotrades-topic.service cryptotrades-vector.service cryptotrades-producer.service)
if [ "$CRYPTOTRADES_KAFKA_MODE" = ec2 ]; then
  if [ ! -f "$CRYPTOTRADES_KAFKA_DATA_DIR/meta.properties" ]; then
    # Kafka's scripts write their logs under LOG_DIR (default: inside the root-owned install).
    cluster_id=$(runuser -u kafka -- env LOG_DIR=/var/log/kafka /opt/kafka/bin/kafka-storage.sh random-uuid)
    runuser -u kafka -- env LOG_DIR=/var/log/kafka /opt/kafka/bin/kafka-storage.sh format \
      --cluster-id "$cluster_id" --config /etc/kafka/server.properties
  fi
  install -m 0644 "$here/systemd/kafka.service" /etc/systemd/system/kafka.service
  units=(kafka.service "${units[@]}")
fi
install -m 0644 "$here/systemd/cryptotrades-topic.service" "$here/systemd/cryptotrades-vector.service" \
  /etc/systemd/system/
install -m 0644 "$release/producer/cryptotrades-producer.service" /etc/systemd/system/
install -d -m 0755 /etc/systemd/system/cryptotrades-producer.service.d
install -m 0644 "$here/systemd/producer-host.conf" \
  /etc/systemd/system/cryptotrades-producer.service.d/10-host.conf

systemctl daemon-reload
systemctl enable "${units[@]}"
# In order: the broker, then the topic (a oneshot: restart returns once it is created), then
# Vector and the producer.
for unit in "${units[@]}"; do
  systemctl restart "$unit"
done
for unit in "${units[@]}"; do
  systemctl is-active --quiet "$unit" || die "$unit is not active: journalctl -u $unit"
done
# The producer's own verdict (Binance reachable, Kafka confirming): logged, not fatal, since
# Binance being briefly away must not undo a deploy.
health=http://127.0.0.1:9108/health
for _ in $(seq 1 24); do
  if curl -fsS --max-time 5 "$health" >/dev/null 2>&1; then
    log "producer healthy"
    break
  fi
  sleep 5
done
curl -sS --max-time 5 "$health" >&2 || log "producer health endpoint did not answer"
log "host ready ($CRYPTOTRADES_KAFKA_MODE mode): ${units[*]}"
