"""The RDS root certificates shipped with the repository (``infra/rds-ca/``, provenance in its README).

The Lambda functions verify the database's certificate against them by default; a region
not listed here needs AWS's current bundle passed with ``-c dbCaBundle=FILE``.
"""

from __future__ import annotations

from pathlib import Path

BUNDLE = Path(__file__).resolve().parent / "rds-ca" / "rds-g1-roots.pem"
# Regions whose G1 roots (RSA2048, RSA4096, ECC384) the bundle holds; a test checks the file.
REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ca-central-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "me-central-1",
        "me-south-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
