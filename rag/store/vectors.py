"""The Chroma side of the index: chunk vectors with the metadata date filters need. The only
module of newsrag's index that imports chromadb (the eval's llama-index baseline builds its
own); its objects never leave the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# 2: chunk vectors carry a numeric `date_num` (date filters); articles carry a `group_id`
# (syndicated and rewritten copies share one).
COLLECTION = "newsrag_chunks"


def open_client(index_dir: Path, chroma_url: str | None) -> Any:
    """A Chroma server's client when `chroma_url` is set, else the embedded store in the index."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        from urllib.parse import urlparse

        u = urlparse(chroma_url)
        return chromadb.HttpClient(host=u.hostname or "localhost", port=u.port or 8000,
                                   ssl=u.scheme == "https", settings=chroma_settings)
    return chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=chroma_settings)


def collection(client: Any) -> Any:
    return client.get_or_create_collection(
        COLLECTION, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)


def recreate(client: Any) -> Any:
    """An empty collection in place of the old one (reindex)."""
    client.delete_collection(COLLECTION)
    return collection(client)
