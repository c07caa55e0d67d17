"""Similar-case retrieval for APT: embeddings, tags, a faiss index, tag-based selection, diversity, deduplication
and decontamination."""
