#!/usr/bin/env bash
# Turns a fresh Amazon Linux 2023 instance into the pipeline's Kafka host: Java and Apache
# Kafka (KRaft, one node) unless the brokers are Amazon MSK, Vector, the producer, and their
# systemd units. Run as root by user data on first boot from the unpacked release
# (/opt/cryptotrades/release); safe to run again, e.g. over SSM after editing host.env.
#
# CRYPTOTRADES_ROOT (default empty: the real /) prefixes every path this script writes; the
# tests point it at a temp dir and put stand-ins for dnf, curl, systemctl... on PATH.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
release=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

root=${CRYPTOTRADES_ROOT:-}
conf="$root/etc/cryptotrades"
units_dir="$root/etc/systemd/system"
kafka_log_dir=/var/log/kafka
[ -r "$conf/host.env" ] || die "$conf/host.env is missing (user data writes it)"
set -a
# shellcheck source=/dev/null
. "$conf/host.env"
set +a
require CRYPTOTRADES_KAFKA_MODE AWS_REGION KAFKA_VERSION KAFKA_SCALA_VERSION VECTOR_VERSION CRYPTOTRADES_PYTHON \
  CRYPTOTRADES_HOST_LOG_GROUP
health_tries=${CRYPTOTRADES_HEALTH_TRIES:-24}

imds() {
  local token
  token=$(curl -fsS --connect-timeout 2 --max-time 5 -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -fsS --connect-timeout 2 --max-time 5 -H "X-aws-ec2-metadata-token: $token" \
    "http://169.254.169.254/latest/meta-data/$1"
}

# dnf with a per-mirror timeout and its own retries, tried again as a whole on failure.
dnf_install() {
  retry 3 dnf install -y -q --setopt=timeout=30 --setopt=retries=3 "$@"
}

install_packages() {
  # Java runs the broker and Kafka's CLI tools (also needed to create the topic on MSK).
  dnf_install java-21-amazon-corretto-headless "$CRYPTOTRADES_PYTHON"
}

install_kafka() {
  local name="kafka_${KAFKA_SCALA_VERSION}-${KAFKA_VERSION}"
  local dest="$root/opt/$name" path="kafka/$KAFKA_VERSION/$name.tgz"
  # downloads.apache.org carries current releases; archive.apache.org keeps every release.
  local mirrors=("https://downloads.apache.org/$path" "https://archive.apache.org/dist/$path")
  if [ ! -x "$dest/bin/kafka-server-start.sh" ]; then
    local work expected url
    work=$(mktemp -d)
    url=$(fetch_first "$work/$name.tgz" "${mirrors[@]}") || die "could not download $name.tgz"
    expected=${KAFKA_SHA512:-}
    if [ -z "$expected" ]; then
      # No pinned digest for this version (infra/settings.py, KAFKA_SHA512_PINS, or context
      # kafkaSha512): Apache's published one, from the archive whichever mirror served the
      # tarball. It catches a truncated or swapped file, not a compromised Apache.
      log "no pinned SHA-512 for Kafka $KAFKA_VERSION: checking against Apache's published digest"
      fetch "https://archive.apache.org/dist/$path.sha512" "$work/$name.tgz.sha512" \
        || die "could not download the digest of $name.tgz"
      expected=$(published_sha512 "$work/$name.tgz.sha512")
    fi
    verify_sha512 "$work/$name.tgz" "$expected" || die "refusing $url"
    mkdir -p "$root/opt"
    tar -xzf "$work/$name.tgz" -C "$root/opt"
    chown -R root:root "$dest"
    rm -rf "$work"
  fi
  ln -sfn "$dest" "$root/opt/kafka"
}

install_vector() {
  # Vector's own package repository (run by Datadog), signed packages and metadata.
  mkdir -p "$root/etc/yum.repos.d"
  cat >"$root/etc/yum.repos.d/vector.repo" <<'REPO'
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
  dnf_install "vector-$VECTOR_VERSION"
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
      --cli-connect-timeout 10 --cli-read-timeout 30 \
      --query BootstrapBrokerStringTls --output text
  fi
}

# ship_host_logs: the journal of this boot (cloud-init, and each service once it exists) to
# CloudWatch Logs, by a second Vector of its own, started before anything else can fail: a host
# that never comes up leaves its log behind after CloudFormation rolls it back.
ship_host_logs() {
  require CRYPTOTRADES_HOST_LOG_GROUP
  install -d -m 0755 "$conf" "$units_dir"
  install -m 0644 "$here/host-logs.toml" "$conf/host-logs.toml"
  printf 'CRYPTOTRADES_HOST_LOG_GROUP=%s\nAWS_REGION=%s\n' "$CRYPTOTRADES_HOST_LOG_GROUP" "$AWS_REGION" \
    >"$conf/host-logs.env"
  install -m 0644 "$here/systemd/cryptotrades-host-logs.service" "$units_dir/"
  systemctl daemon-reload
  systemctl enable cryptotrades-host-logs.service
  systemctl restart cryptotrades-host-logs.service
}

install_vector
ship_host_logs
install_packages
install_kafka
add_user kafka # the producer's unit runs as a systemd DynamicUser; Vector's package adds its user

if [ "$CRYPTOTRADES_KAFKA_MODE" = ec2 ]; then
  require CRYPTOTRADES_KAFKA_DATA_DIR
  CRYPTOTRADES_KAFKA_HOST=$(retry 5 imds local-ipv4)
  export CRYPTOTRADES_KAFKA_HOST
  install -d -m 0750 "$root$CRYPTOTRADES_KAFKA_DATA_DIR" "$root$kafka_log_dir"
  chown kafka:kafka "$root$CRYPTOTRADES_KAFKA_DATA_DIR" "$root$kafka_log_dir"
fi
CRYPTOTRADES_KAFKA_BOOTSTRAP=$(retry 10 kafka_bootstrap)
CRYPTOTRADES_VECTOR_TOML="$release/vector/vector.toml"
export CRYPTOTRADES_KAFKA_BOOTSTRAP CRYPTOTRADES_VECTOR_TOML
bash "$here/render-config.sh" "$root/"

units=(cryptotrades-topic.service cryptotrades-vector.service cryptotrades-producer.service)
# cryptotrades-host-logs.service is already running (ship_host_logs).
mkdir -p "$units_dir"
if [ "$CRYPTOTRADES_KAFKA_MODE" = ec2 ]; then
  if [ ! -f "$root$CRYPTOTRADES_KAFKA_DATA_DIR/meta.properties" ]; then
    # As the broker's user; Kafka's scripts log under LOG_DIR (default: inside the install).
    storage=(runuser -u kafka -- env "LOG_DIR=$kafka_log_dir" "$root/opt/kafka/bin/kafka-storage.sh")
    cluster_id=$("${storage[@]}" random-uuid)
    "${storage[@]}" format --cluster-id "$cluster_id" --config "$root/etc/kafka/server.properties"
  fi
  install -m 0644 "$here/systemd/kafka.service" "$units_dir/kafka.service"
  units=(kafka.service "${units[@]}")
fi
install -m 0644 "$here/systemd/cryptotrades-topic.service" "$here/systemd/cryptotrades-vector.service" \
  "$units_dir/"
install -m 0644 "$release/producer/cryptotrades-producer.service" "$units_dir/"
install -d -m 0755 "$units_dir/cryptotrades-producer.service.d"
install -m 0644 "$here/systemd/producer-host.conf" "$units_dir/cryptotrades-producer.service.d/10-host.conf"

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
for _ in $(seq 1 "$health_tries"); do
  if curl -fsS --connect-timeout 2 --max-time 5 "$health" >/dev/null 2>&1; then
    log "producer healthy"
    break
  fi
  sleep 5
done
curl -sS --connect-timeout 2 --max-time 5 "$health" >&2 || log "producer health endpoint did not answer"
log "host ready ($CRYPTOTRADES_KAFKA_MODE mode): ${units[*]}"
