"""The pipeline's contract: the facts every stage shares, and the errors they all descend from.

Producer, Vector's configuration, the Lambda, the one-box, the dashboard and the CDK app all
agree on these names; each is written here once. Nothing in this package does I/O or
imports another package of ours, so anything may import it (the CDK app included).
"""
