"""The Kubernetes target (``--target kubernetes``): ``emit`` writes kubernetes.yaml from the
model; kubectl runs it, so there is no runtime here and apply, assert and destroy refuse."""

from __future__ import annotations

from ..base import NotRunHere

TARGET = NotRunHere(
    "kubernetes",
    "--target kubernetes: clockwork does not run a cluster; deploy with "
    "`clockwork secrets --target kubernetes | kubectl apply -f -` and `kubectl apply -f kubernetes.yaml`",
)
