"""Kept for imports of the old path: the Compose target is :mod:`clockwork_compose._targets.compose`."""

from ._targets.compose import HEADER, SCRIPT_ANCHOR, SCRIPT_FIELD, document, env_text, render, service, text

__all__ = ["HEADER", "SCRIPT_ANCHOR", "SCRIPT_FIELD", "document", "env_text", "render", "service", "text"]
