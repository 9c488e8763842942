"""The CDK app: the whole pipeline in one stack, one construct module per concern.

``infra`` packages the runtime code (``contract/``, ``binance/``, ``minutes/``,
``lambda_aggregator/``, ``producer/``, ``vector/``, ``sql/``) as files and imports none of it.
"""

import os

# The jsii runtime that drives aws-cdk-lib prints a banner on every synth when Node.js is past
# its end of life (Node 20 on the developers' machines); the synth itself is unaffected.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
