"""Local bundling: what goes into an asset, when its hash changes, wheels for the target platform."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.bundle import PythonBundle, bundle_hash, installed_requirements, iter_files, write_bundle
from infra.errors import BundleError
from infra.kafka_host import PRODUCER_REQUIREMENTS
from tests.fixtures.infra import REPO_ROOT

AARCH64, X86_64 = 183, 62  # ELF e_machine values


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny repo: a package with a cache folder, a data folder, a requirements file."""
    root = tmp_path / "repo"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text("VALUE = 1\n")
    (root / "pkg" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\0")
    (root / "pkg" / "stale.pyc").write_bytes(b"\0")
    (root / "sql").mkdir()
    (root / "sql" / "001.sql").write_text("SELECT 1;\n")
    (root / "requirements.txt").write_text("msgspec==0.22.0\n")
    return root


def bundle_of(root: Path, *, arm64: bool = True) -> PythonBundle:
    machine = "aarch64" if arm64 else "x86_64"
    return PythonBundle(
        sources=("pkg", "sql"),
        requirements=root / "requirements.txt",
        platforms=(f"manylinux_2_34_{machine}", f"manylinux2014_{machine}"),
        python_version="3.12",
        root=root,
    )


def test_a_bundle_holds_the_sources_without_bytecode(project: Path) -> None:
    assert [relative for relative, _ in iter_files(bundle_of(project))] == [
        "pkg/__init__.py",
        "pkg/core.py",
        "sql/001.sql",
    ]


def test_the_hash_follows_code_requirements_and_platform(project: Path) -> None:
    bundle = bundle_of(project)
    first = bundle_hash(bundle)
    assert bundle_hash(bundle) == first
    (project / "pkg" / "__pycache__" / "other.pyc").write_bytes(b"\1")
    assert bundle_hash(bundle) == first, "bytecode is not part of the bundle"
    (project / "pkg" / "core.py").write_text("VALUE = 2\n")
    second = bundle_hash(bundle)
    assert second != first
    assert bundle_hash(bundle_of(project, arm64=False)) != second
    (project / "requirements.txt").write_text("msgspec==0.21.0\n")
    assert bundle_hash(bundle) != second


def test_missing_inputs_are_named(project: Path) -> None:
    with pytest.raises(BundleError, match="bundle source 'nope' does not exist"):
        PythonBundle(
            sources=("nope",),
            requirements=project / "requirements.txt",
            platforms=(),
            python_version="3.12",
            root=project,
        )
    with pytest.raises(BundleError, match=r"requirements file .*absent.txt does not exist"):
        PythonBundle(
            sources=("pkg",),
            requirements=project / "absent.txt",
            platforms=(),
            python_version="3.12",
            root=project,
        )


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


@pytest.mark.parametrize(("arm64", "machine"), [(True, AARCH64), (False, X86_64)])
def test_wheels_are_installed_for_the_target_and_cached(
    project: Path, tmp_path: Path, arm64: bool, machine: int
) -> None:
    bundle = bundle_of(project, arm64=arm64)
    cache = REPO_ROOT / "build" / "infra-deps"  # shared with the synths: pip runs once per machine
    installed = installed_requirements(bundle, cache)
    assert installed_requirements(bundle, cache) == installed
    output = tmp_path / "out"
    output.mkdir()
    write_bundle(bundle, output, cache)
    (extension,) = (output / "msgspec").glob("_core*.so")
    assert elf_machine(extension) == machine
    assert "cpython-312" in extension.name
    assert (output / "pkg" / "core.py").read_text() == "VALUE = 1\n"
    assert not list(output.rglob("*.pyc"))


def test_a_failed_install_says_what_and_for_which_platform(project: Path, tmp_path: Path) -> None:
    (project / "requirements.txt").write_text("msgspec==0.0.0.0.1\n")
    with pytest.raises(
        BundleError, match=r"pip could not install .*requirements.txt for manylinux_2_34_aarch64"
    ):
        installed_requirements(bundle_of(project), tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir()), "no half-installed cache entry"


def test_the_host_requirements_pin_what_constraints_pin() -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO_ROOT / "constraints.txt").read_text(), re.M))
    lowered = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    wanted = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", PRODUCER_REQUIREMENTS.read_text(), re.M)
    assert wanted
    for name, version in wanted:
        assert lowered[name.lower().replace("_", "-")] == version, name
