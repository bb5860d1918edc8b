"""aligner: cross-lingual duplicate and alignment detection for news.

Read documents, match them across languages (which Persian report is which Arabic report),
align matched pairs sentence by sentence, and export a parallel corpus.
"""

from aligner.api import MatchResult, align, load_documents, match
from aligner.encoders import BuiltinEncoder, Encoder, load_encoder
from aligner.export import write_pairs_tsv, write_parallel_tsv
from aligner.prepare import prepare_document, prepare_documents
from aligner.types import Alignment, Document, DocumentPair, Link, PreparedDocument, Sentence

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "BuiltinEncoder",
    "Document",
    "DocumentPair",
    "Encoder",
    "Link",
    "MatchResult",
    "PreparedDocument",
    "Sentence",
    "align",
    "load_documents",
    "load_encoder",
    "match",
    "prepare_document",
    "prepare_documents",
    "write_pairs_tsv",
    "write_parallel_tsv",
]
