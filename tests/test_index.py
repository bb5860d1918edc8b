import json

import numpy as np
import pytest

from aligner.encoders import BuiltinEncoder
from aligner.errors import IndexError_
from aligner.index import DocumentIndex


def small_index() -> tuple[DocumentIndex, np.ndarray]:
    encoder = BuiltinEncoder(dim=256)
    vectors = encoder.encode(["روسیه و ایران", "روسيا وايران", "oil prices rise"])
    index = DocumentIndex(encoder.identity, encoder.dim)
    index.add(["fa1", "ar1", "en1"], ["fa", "ar", "en"], vectors, ["h1", "h2", "h3"])
    return index, vectors


def test_save_load_and_search(tmp_path):
    index, vectors = small_index()
    index.save(tmp_path / "idx")
    loaded = DocumentIndex.load(tmp_path / "idx")
    assert len(loaded) == 3
    assert loaded.languages() == {"ar": 1, "en": 1, "fa": 1}
    hits = loaded.search(vectors[:1], "ar", k=5)
    assert hits[0][0].id == "ar1"


def test_re_adding_same_content_changes_nothing_and_changed_content_updates():
    index, vectors = small_index()
    counts = index.add(["fa1"], ["fa"], vectors[:1], ["h1"])
    assert counts == {"added": 0, "updated": 0, "unchanged": 1}
    counts = index.add(["fa1"], ["fa"], vectors[1:2], ["h1-changed"])
    assert counts == {"added": 0, "updated": 1, "unchanged": 0}
    assert len(index) == 3 and index.languages()["fa"] == 1


def test_querying_with_another_encoder_is_refused(tmp_path):
    index, _ = small_index()
    index.save(tmp_path / "idx")
    loaded = DocumentIndex.load(tmp_path / "idx")
    loaded.check_encoder(BuiltinEncoder(dim=256).identity)
    with pytest.raises(IndexError_, match="made with encoder"):
        loaded.check_encoder(BuiltinEncoder(dim=512).identity)


def test_not_an_index_damaged_and_other_version_are_refused(tmp_path):
    with pytest.raises(IndexError_, match="no index here"):
        DocumentIndex.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexError_, match="not an aligner index"):
        DocumentIndex.load(tmp_path / "empty")
    index, _ = small_index()
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    manifest["version"] = 99
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexError_, match="version"):
        DocumentIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx2")
    (tmp_path / "idx2" / "vectors.fa.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="damaged"):
        DocumentIndex.load(tmp_path / "idx2")


def test_save_replaces_an_existing_index_whole(tmp_path):
    index, vectors = small_index()
    index.save(tmp_path / "idx")
    index.add(["fa2"], ["fa"], vectors[:1], ["h4"])
    index.save(tmp_path / "idx")
    assert len(DocumentIndex.load(tmp_path / "idx")) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
