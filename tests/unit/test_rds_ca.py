"""The RDS root certificates shipped in infra/rds-ca/: what they are and which regions they cover."""

from __future__ import annotations

import re
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from infra import rds_ca

_SUBJECT = re.compile(
    r"^Amazon RDS (?P<region>[a-z]{2}(-[a-z]+)+-\d) Root CA (?P<kind>RSA2048|RSA4096|ECC384) G1$"
)


def certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(rds_ca.BUNDLE.read_bytes())


def test_every_certificate_is_a_self_signed_g1_root_valid_today() -> None:
    now = datetime.now(UTC)
    found = certificates()
    assert len(found) == 3 * len(rds_ca.REGIONS)
    for certificate in found:
        (common_name,) = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert _SUBJECT.match(str(common_name.value)), common_name.value
        assert certificate.subject == certificate.issuer
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert certificate.not_valid_before_utc < now < certificate.not_valid_after_utc
        certificate.verify_directly_issued_by(certificate)  # the signature is its own


def test_the_listed_regions_are_exactly_those_with_all_three_roots() -> None:
    kinds: dict[str, set[str]] = {}
    for certificate in certificates():
        (common_name,) = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        match = _SUBJECT.match(str(common_name.value))
        assert match is not None
        kinds.setdefault(match["region"], set()).add(match["kind"])
    assert set(kinds) == rds_ca.REGIONS
    assert all(found == {"RSA2048", "RSA4096", "ECC384"} for found in kinds.values())
    assert "eu-west-1" in rds_ca.REGIONS  # the default region


def test_python_loads_the_file_as_a_trust_store() -> None:
    # The Lambda's ssl.create_default_context(cafile=...) reads it, comments and all.
    context = ssl.create_default_context(cafile=str(rds_ca.BUNDLE))
    assert context.cert_store_stats()["x509_ca"] == 3 * len(rds_ca.REGIONS)
