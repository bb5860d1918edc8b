"""aligner: cross-lingual duplicate and alignment detection for news.

Read documents, match them across languages (which Persian report is which Arabic report),
align matched pairs sentence by sentence, and export a parallel corpus. This module is the
public face: what `aligner.api` offers, the encoders and the writers.
"""

from aligner.api import (
    Alignment,
    AlignParams,
    ArchiveOptions,
    DedupParams,
    Document,
    DocumentPair,
    IndexError_,
    IndexInfo,
    MatchParams,
    MatchResult,
    PreparedDocument,
    RaySettings,
    SearchHit,
    VerifyParams,
    align,
    align_pair,
    dedup_archive,
    index_add,
    index_encoder,
    index_info,
    load_documents,
    load_encoder,
    match,
    open_archive,
    prepare_documents,
    search_index,
)
from aligner.encoders import BuiltinEncoder, Encoder
from aligner.prepare import prepare_document
from aligner.types import Link, Sentence
from aligner.version import __version__ as __version__
from aligner.writers import write_pairs_tsv, write_parallel_tsv

__all__ = [
    "AlignParams",
    "Alignment",
    "ArchiveOptions",
    "BuiltinEncoder",
    "DedupParams",
    "Document",
    "DocumentPair",
    "Encoder",
    "IndexError_",
    "IndexInfo",
    "Link",
    "MatchParams",
    "MatchResult",
    "PreparedDocument",
    "RaySettings",
    "SearchHit",
    "Sentence",
    "VerifyParams",
    "align",
    "align_pair",
    "dedup_archive",
    "index_add",
    "index_encoder",
    "index_info",
    "load_documents",
    "load_encoder",
    "match",
    "open_archive",
    "prepare_document",
    "prepare_documents",
    "search_index",
    "write_pairs_tsv",
    "write_parallel_tsv",
]
