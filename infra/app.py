"""The CDK app: ``cdk synth`` / ``cdk deploy`` run ``python -m infra.app`` (see cdk.json).

Reads the settings from context, builds the one stack, applies the cdk-nag AwsSolutions
checks, synthesizes. Run directly (``python -m infra.app``) it applies cdk.json's context
itself, so tests and the CLI synthesize the same thing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks

from infra.bundle import REPO_ROOT
from infra.errors import InfraError
from infra.settings import InfraSettings
from infra.stack import CryptotradesStack

CDK_JSON = REPO_ROOT / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` block of cdk.json: feature flags and defaults shared with the CLI."""
    return dict(json.loads(path.read_text(encoding="utf-8")).get("context", {}))


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None
) -> tuple[App, CryptotradesStack]:
    """The app with its stack, not yet synthesized. ``context`` overrides cdk.json's (like ``-c``)."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    settings = InfraSettings.from_context(app.node.try_get_context, os.environ)
    stack = CryptotradesStack(app, settings.stack_name, settings=settings)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


def main() -> int:
    try:
        app, _ = build_app()
    except InfraError as exc:
        sys.stderr.write(f"infra: {exc}\n")
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
