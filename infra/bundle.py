"""Python code bundled for Lambda and for the Kafka host, built locally (no Docker here).

A bundle is some folders of this repo plus the wheels of a requirements file, installed for the
target's platform and Python with ``pip install --platform ... --only-binary=:all:``. Installed
wheels are cached under ``build/infra-deps/<key>/``, keyed by the requirements file, platform
and Python version, so a second synth copies instead of downloading. The asset hash is computed
from the same inputs, so the CDK rebuilds exactly when code or requirements change.

Nothing here imports the packages it bundles: they are files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling

from infra.errors import BundleError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / "build" / "infra-deps"
# Never part of a bundle: bytecode of this machine's Python, editor and test leftovers.
_SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# Used only if local bundling were declined; ours never declines (it raises instead).
_FALLBACK_IMAGE = "public.ecr.aws/sam/build-python3.12"


@dataclass(frozen=True, slots=True)
class PythonBundle:
    """What goes into one asset.

    Parameters
    ----------
    sources
        Folders or files, relative to the repo root, copied to the same relative place.
    requirements
        A pip requirements file whose packages are installed into ``packages_dir``.
    platforms
        pip ``--platform`` tags of the target, most specific first (wheels of any of them are taken).
    python_version
        The target's Python, ``major.minor``.
    packages_dir
        Where the wheels go inside the bundle: ``""`` for Lambda (its ``/var/task`` is on sys.path).
    extra_files
        Files from outside the repo: bundle-relative destination -> source path.
    """

    sources: tuple[str, ...]
    requirements: Path
    platforms: tuple[str, ...]
    python_version: str
    packages_dir: str = ""
    extra_files: tuple[tuple[str, Path], ...] = field(default=())
    root: Path = REPO_ROOT

    def __post_init__(self) -> None:
        for source in self.sources:
            if not (self.root / source).exists():
                raise BundleError(f"bundle source {source!r} does not exist under {self.root}")
        if not self.requirements.is_file():
            raise BundleError(f"requirements file {self.requirements} does not exist")
        for destination, path in self.extra_files:
            if not path.is_file():
                raise BundleError(f"extra file {path} for {destination!r} does not exist")


def lambda_platforms(arm64: bool) -> tuple[str, ...]:
    """pip platform tags for Lambda's Python 3.12 runtime (Amazon Linux 2023, glibc 2.34)."""
    machine = "aarch64" if arm64 else "x86_64"
    return (f"manylinux_2_34_{machine}", f"manylinux_2_28_{machine}", f"manylinux2014_{machine}")


def iter_files(bundle: PythonBundle) -> Iterator[tuple[str, Path]]:
    """Every file of the bundle's sources as (bundle-relative POSIX path, source path), sorted."""
    for source in sorted(bundle.sources):
        path = bundle.root / source
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            relative = candidate.relative_to(bundle.root)
            if _SKIPPED_DIRS.intersection(relative.parts[:-1]) or candidate.suffix in _SKIPPED_SUFFIXES:
                continue
            yield relative.as_posix(), candidate
    yield from sorted(bundle.extra_files)


def requirements_key(bundle: PythonBundle) -> str:
    """Cache key of the installed wheels: requirements text, platforms and Python version."""
    digest = hashlib.sha256()
    digest.update(bundle.requirements.read_bytes())
    digest.update("\0".join((*bundle.platforms, bundle.python_version)).encode())
    return digest.hexdigest()[:32]


def bundle_hash(bundle: PythonBundle) -> str:
    """The asset hash: every bundled file's path and bytes, plus the requirements key and layout."""
    digest = hashlib.sha256()
    for relative, path in iter_files(bundle):
        digest.update(relative.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(requirements_key(bundle).encode())
    digest.update(bundle.packages_dir.encode())
    return digest.hexdigest()


def installed_requirements(bundle: PythonBundle, cache_dir: Path = CACHE_DIR) -> Path:
    """The folder holding the bundle's wheels, installed on first use and reused after."""
    target = cache_dir / requirements_key(bundle)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=cache_dir))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",  # bytecode of this machine's Python would be useless to the target's
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        bundle.python_version,
        *(arg for platform in bundle.platforms for arg in ("--platform", platform)),
        "--target",
        str(staging),
        "--requirement",
        str(bundle.requirements),
    ]
    logger.info("installing %s for %s into %s", bundle.requirements, bundle.platforms[0], target)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(
            f"pip could not install {bundle.requirements} for {', '.join(bundle.platforms)} "
            f"(Python {bundle.python_version}): {result.stderr.strip()[-2000:]}"
        )
    try:
        staging.rename(target)
    except OSError:
        # Another synth finished the same install first; its copy is as good as ours.
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target


def write_bundle(bundle: PythonBundle, output_dir: Path, cache_dir: Path = CACHE_DIR) -> None:
    """Fill ``output_dir`` (empty) with the bundle: sources, extra files, then the wheels."""
    for relative, source in iter_files(bundle):
        destination = output_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    packages = output_dir / bundle.packages_dir if bundle.packages_dir else output_dir
    shutil.copytree(installed_requirements(bundle, cache_dir), packages, dirs_exist_ok=True)
    for directory, _, files in os.walk(output_dir):
        for name in files:
            # Lambda and the host unpack with the asset's modes: keep everything world-readable.
            (Path(directory) / name).chmod(0o755 if name.endswith(".sh") else 0o644)


@jsii.implements(ILocalBundling)
class LocalBundler:
    """The CDK's local-bundling hook: builds the bundle in this process instead of in Docker."""

    def __init__(self, bundle: PythonBundle, cache_dir: Path = CACHE_DIR) -> None:
        self._bundle = bundle
        self._cache_dir = cache_dir

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        write_bundle(self._bundle, Path(output_dir), self._cache_dir)
        return True


def bundling_options(bundle: PythonBundle, cache_dir: Path = CACHE_DIR) -> BundlingOptions:
    return BundlingOptions(
        image=DockerImage.from_registry(_FALLBACK_IMAGE), local=LocalBundler(bundle, cache_dir)
    )


def asset_options(bundle: PythonBundle, cache_dir: Path = CACHE_DIR) -> dict[str, object]:
    """Keyword arguments for ``Code.from_asset`` / ``s3_assets.Asset``: our hash, our bundler.

    The asset's ``path`` is not read (the bundler copies from the repo), so callers pass the
    first source folder; the hash is ours so the CDK never fingerprints the repo.
    """
    return {
        "asset_hash_type": AssetHashType.CUSTOM,
        "asset_hash": bundle_hash(bundle),
        "bundling": bundling_options(bundle, cache_dir),
    }
