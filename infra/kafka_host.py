"""The Kafka host: one EC2 instance running Kafka (KRaft), Vector and the producer under systemd.

User data stays small: it writes ``/etc/cryptotrades/host.env`` (every setting the host
needs, visible in the template), unpacks the release asset (``contract/``, ``binance/``, ``producer/``,
``vector/vector.toml``, ``infra/host/`` and the producer's wheels for the host's platform)
and runs ``infra/host/install.sh``, which is plain bash checked by shellcheck and tested.
Access is through SSM Session Manager; the security group admits nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from contract.pipeline import BUCKET_ENV, REGION_ENV, TOPIC, TOPIC_ENV
from infra.bundle import REPO_ROOT, PythonBundle, asset_options

RELEASE_DIR = "/opt/cryptotrades/release"
RELEASE_ZIP = "/opt/cryptotrades/release.zip"
HOST_ENV = "/etc/cryptotrades/host.env"
HOST_PYTHON = "3.11"  # Amazon Linux 2023's python3.11 package
# First boot installs Java, Kafka, Vector and the producer: a few minutes; generous for slow mirrors.
SIGNAL_TIMEOUT = Duration.minutes(20)
PRODUCER_REQUIREMENTS = REPO_ROOT / "infra" / "host" / "requirements.txt"
RELEASE_SOURCES = ("contract", "binance", "producer", "vector/vector.toml", "infra/host")
HOST_LOGS_UNIT = "cryptotrades-host-logs.service"  # infra/host/systemd/: the journal to CloudWatch Logs
# What the SSM agent needs for Session Manager and Run Command (AWS's Session Manager guide):
# these take no resource ARN; ssm:UpdateInstanceInformation is granted on instances separately.
SESSION_MANAGER_CHANNEL_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
]


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """The topic the producer writes and Vector reads.

    ``segment_ms`` must be well below ``retention_ms``: Kafka deletes whole closed segments only.
    """

    name: str = TOPIC
    partitions: int = 1
    retention_ms: int = 300_000
    segment_ms: int = 60_000


@dataclass(frozen=True, slots=True)
class Downloads:
    """What the host fetches at first boot (pinned versions; see docs/infra.md)."""

    kafka_version: str
    vector_version: str
    kafka_sha512: str | None = None
    kafka_scala_version: str = "2.13"


@dataclass(frozen=True, slots=True)
class MskBrokers:
    """Amazon MSK in place of the host's own broker."""

    cluster_arn: str
    connections: ec2.Connections
    replication: int


def release_bundle(*, arm64: bool) -> PythonBundle:
    """The host's release: code as files, the producer's wheels for Amazon Linux 2023."""
    machine = "aarch64" if arm64 else "x86_64"
    return PythonBundle(
        sources=RELEASE_SOURCES,
        requirements=PRODUCER_REQUIREMENTS,
        # AL2023 has glibc 2.34; confluent-kafka publishes manylinux_2_28 wheels, msgspec manylinux2014.
        platforms=(f"manylinux_2_34_{machine}", f"manylinux_2_28_{machine}", f"manylinux2014_{machine}"),
        python_version=HOST_PYTHON,
        packages_dir="site-packages",
    )


def host_environment(
    *,
    mode: str,
    topic: TopicSettings,
    downloads: Downloads,
    bucket_name: str,
    region: str,
    heap: str,
    msk: MskBrokers | None,
    log_group: str,
) -> dict[str, str]:
    """The contents of ``/etc/cryptotrades/host.env`` (install.sh and render-config.sh read these)."""
    env = {
        "CRYPTOTRADES_HOST_LOG_GROUP": log_group,
        "CRYPTOTRADES_KAFKA_MODE": mode,
        TOPIC_ENV: topic.name,
        "CRYPTOTRADES_TOPIC_PARTITIONS": str(topic.partitions),
        "CRYPTOTRADES_TOPIC_REPLICATION": str(msk.replication if msk else 1),
        "CRYPTOTRADES_TOPIC_RETENTION_MS": str(topic.retention_ms),
        "CRYPTOTRADES_TOPIC_SEGMENT_MS": str(topic.segment_ms),
        BUCKET_ENV: bucket_name,
        REGION_ENV: region,
        "CRYPTOTRADES_PYTHON": f"python{HOST_PYTHON}",
        "KAFKA_VERSION": downloads.kafka_version,
        "KAFKA_SCALA_VERSION": downloads.kafka_scala_version,
        "KAFKA_SHA512": downloads.kafka_sha512 or "",
        "VECTOR_VERSION": downloads.vector_version,
    }
    if msk is None:
        env |= {"CRYPTOTRADES_KAFKA_DATA_DIR": "/var/lib/kafka/data", "CRYPTOTRADES_KAFKA_HEAP": heap}
    else:
        env["MSK_CLUSTER_ARN"] = msk.cluster_arn
    return env


def user_data_commands(*, env: Mapping[str, str], asset_url: str, region: str) -> list[str]:
    """User data after the signal set-up: write host.env, fetch and unpack the release, run install.sh."""
    lines = [f"{key}={value}" for key, value in env.items()]
    return [
        "install -d -m 0755 /etc/cryptotrades /opt/cryptotrades",
        f"cat >{HOST_ENV} <<'HOST_ENV'",
        *lines,
        "HOST_ENV",
        # The CLI's own retries cover throttling; the loop covers a network that is not up yet.
        "for attempt in 1 2 3 4 5; do",
        f"  aws s3 cp '{asset_url}' {RELEASE_ZIP} --region {region} --only-show-errors "
        "--cli-connect-timeout 10 --cli-read-timeout 60 && break",
        '  [ "$attempt" -lt 5 ] || exit 1',
        "  sleep $((attempt * 5))",
        "done",
        f"rm -rf {RELEASE_DIR}",
        # Python's zipfile is on every Amazon Linux 2023 image; unzip is not always.
        f"python3 -m zipfile -e {RELEASE_ZIP} {RELEASE_DIR}",
        f"bash {RELEASE_DIR}/infra/host/install.sh",
    ]


def signal_commands(*, stack_name: str, logical_id: str, region: str) -> list[str]:
    """User data's first lines: whatever happens next, its exit status goes to CloudFormation.

    The trap is set before anything can fail, the install of cfn-signal included: if that
    install fails, the AWS CLI (on every Amazon Linux 2023 image) sends the signal instead, so
    a broken first boot fails the deploy at once rather than after the 20-minute timeout. On
    failure the journal shipper is stopped first, which flushes this boot's log to CloudWatch.

    With the instance's creation policy, a deploy waits for a working host and fails on a
    broken one, and a replaced host is deleted only once the new one runs (the overlap is
    harmless: the aggregator deduplicates trades).
    """
    imds = "curl -fsS --connect-timeout 2 --max-time 5"
    return [
        "set -euo pipefail",
        "signal() {",
        "  local status=$? token id outcome",
        "  trap - EXIT",
        '  if [ "$status" -ne 0 ]; then',
        f"    timeout 70 systemctl stop {HOST_LOGS_UNIT} || true",
        "  fi",
        "  if [ -x /opt/aws/bin/cfn-signal ]; then",
        f'    /opt/aws/bin/cfn-signal --exit-code "$status" --stack {stack_name} --resource {logical_id} '
        f"--region {region}",
        "  else",
        f"    token=$({imds} -X PUT http://169.254.169.254/latest/api/token "
        "-H 'X-aws-ec2-metadata-token-ttl-seconds: 60')",
        f'    id=$({imds} -H "X-aws-ec2-metadata-token: $token" '
        "http://169.254.169.254/latest/meta-data/instance-id)",
        '    outcome=$([ "$status" -eq 0 ] && echo SUCCESS || echo FAILURE)',
        f"    aws cloudformation signal-resource --stack-name {stack_name} "
        f'--logical-resource-id {logical_id} --unique-id "$id" --status "$outcome" --region {region}',
        "  fi",
        '  exit "$status"',
        "}",
        "trap signal EXIT",
        # cfn-signal is packaged for Amazon Linux 2023 (aws-cfn-bootstrap) but not on every image.
        "dnf install -y -q --setopt=timeout=30 --setopt=retries=3 aws-cfn-bootstrap",
    ]


def release_id(stack: Stack, commands: list[str]) -> str:
    """A short digest of the host's user data (release hash, settings, references): its construct id.

    A new release makes a new logical id, so CloudFormation replaces the host. (The CDK's
    ``user_data_causes_replacement`` renames the instance after the user data is rendered, so
    the user data could not name the instance it signals for.)
    """
    rendered = json.dumps(stack.resolve(commands), sort_keys=True)
    return hashlib.sha256(rendered.encode()).hexdigest()[:8]


class KafkaHost(Construct):
    """The EC2 instance, its role and its (inbound-less) security group.

    Parameters
    ----------
    vpc
        The VPC; the instance goes in a public subnet with a public address (no NAT needed).
    bucket_name
        The trades bucket Vector writes to (grant ``role`` what it needs there).
    instance_type
        E.g. ``t4g.small`` (Graviton: the image follows the type's architecture).
    topic, downloads
        Topic settings and pinned download versions, written to host.env.
    msk
        When set, the host runs no broker and talks to these brokers instead.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        bucket_name: str,
        instance_type: str,
        topic: TopicSettings,
        downloads: Downloads,
        msk: MskBrokers | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        kind = ec2.InstanceType(instance_type)
        arm64 = kind.architecture == ec2.InstanceArchitecture.ARM_64
        self.release = s3_assets.Asset(
            self,
            "Release",
            path=str(REPO_ROOT / "infra" / "host"),
            **asset_options(release_bundle(arm64=arm64)),
        )
        # The host's journal (infra/host/host-logs.toml). Retained: a first boot that fails is
        # rolled back with its instance, and this is where its log stays.
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.RETAIN
        )
        env = host_environment(
            log_group=self.log_group.log_group_name,
            mode="msk" if msk else "ec2",
            topic=topic,
            downloads=downloads,
            bucket_name=bucket_name,
            region=region,
            heap="512m",
            msk=msk,
        )
        commands = user_data_commands(env=env, asset_url=self.release.s3_object_url, region=region)
        self.user_data = ec2.UserData.for_linux()  # filled below, once the instance's logical id is known
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Kafka host: no inbound at all (SSM for shell access); out to Binance, S3, packages",
            allow_all_outbound=True,
        )
        # The role outlives any one host: grants stay put while hosts are replaced.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="The Kafka host: Session Manager, its release, puts under the trades prefix",
        )
        self.instance = ec2.Instance(
            self,
            f"Instance{release_id(Stack.of(self), commands)}",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            associate_public_ip_address=True,
            instance_type=kind,
            machine_image=ec2.MachineImage.latest_amazon_linux2023(
                cpu_type=ec2.AmazonLinuxCpuType.ARM_64 if arm64 else ec2.AmazonLinuxCpuType.X86_64
            ),
            security_group=self.security_group,
            role=self.role,
            user_data=self.user_data,
            # A new release (code, settings) means a new host (see release_id): the broker keeps
            # only 5 minutes, and the old host runs until the new one has signalled.
            resource_signal_timeout=SIGNAL_TIMEOUT,
            require_imdsv2=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        16,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        self.user_data.add_commands(
            *signal_commands(
                stack_name=Stack.of(self).stack_name,
                logical_id=Stack.of(self).get_logical_id(self.instance.instance),
                region=region,
            ),
            *commands,
        )
        # The one object the host reads: its own release (not the whole CDK asset bucket).
        iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["s3:GetObject"],
            resource_arns=[self.release.bucket.arn_for_objects(self.release.s3_object_key)],
        )
        # Vector's aws_cloudwatch_logs sink, into this group only (its healthcheck is off).
        self.log_group.grant(
            self.role, "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"
        )
        # The user data's fallback when cfn-signal could not be installed (signal_commands).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudformation:SignalResource"], resources=[Stack.of(self).stack_id]
            )
        )
        # Session Manager (and Run Command, which check-deployment uses) without
        # AmazonSSMManagedInstanceCore, whose ssm:GetParameter(s) on * would read every parameter.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=SESSION_MANAGER_CHANNEL_ACTIONS, resources=["*"])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:UpdateInstanceInformation"],
                resources=[Stack.of(self).format_arn(service="ec2", resource="instance", resource_name="*")],
            )
        )
        if msk is not None:
            msk.connections.allow_default_port_from(self.instance, "producer and Vector to MSK (TLS)")
            # No grant_* exists for MSK's control plane: the one call install.sh makes, on this cluster.
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["kafka:GetBootstrapBrokers"], resources=[msk.cluster_arn])
            )
        self._suppress_findings()

    def _suppress_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.instance,
            [
                NagPackSuppression(
                    id="AwsSolutions-EC28",
                    reason="Detailed (1-minute) monitoring costs more than this host is worth; the "
                    "pipeline's health is watched end to end by the NoNewMinuteRows alarm",
                ),
                NagPackSuppression(
                    id="AwsSolutions-EC29",
                    reason="The host is disposable by design (replaced on every release): it keeps 5 "
                    "minutes of trades and is rebuilt from the release on every change; termination "
                    "protection would block that",
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Session Manager's channel actions (ssmmessages:*, ec2messages:* by name) have no "
                    "resource-level permissions; the SSM agent reports itself with "
                    "ssm:UpdateInstanceInformation on this account's instances only",
                    applies_to=[
                        "Resource::*",
                        RegexAppliesTo(
                            regex=r"/^Resource::arn:[^:]+:ec2:[^:]+:<AWS::AccountId>:instance\/\*$/"
                        ),
                    ],
                ),
            ],
            apply_to_children=True,
        )
