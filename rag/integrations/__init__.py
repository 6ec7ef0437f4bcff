"""Adapters that plug newsrag into other frameworks.

Each adapter is its own module and imports its framework itself, so `import rag` stays free of
them: `from rag.integrations.llama_index import NewsragRetriever` is what loads llama-index.
"""
