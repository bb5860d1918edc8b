"""The sentence-transformers path, for real, on a tiny model built and saved locally."""

import pytest

st = pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sorted(set("ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكةأإآءئؤ0123456789.،"))
    vocab += [f"##{c}" for c in sorted(set("ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكة"))]
    (root / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(root / "hf")
    tokenizer.save_pretrained(root / "hf")
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # older releases
        from sentence_transformers.models import Pooling, Transformer
    word = Transformer(str(root / "hf"), max_seq_length=64)
    get_dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pooling = Pooling(get_dim())
    st.SentenceTransformer(modules=[word, pooling]).save(str(root / "model"))
    return root / "model"


def test_local_model_encodes_normalised_vectors(tiny_model):
    import numpy as np

    from aligner.encoders import load_encoder

    encoder = load_encoder(str(tiny_model), device="cpu", batch_size=4)
    vectors = encoder.encode(["سلام دنیا", "روسیه و ایران", "۱۲۳"])
    assert vectors.shape == (3, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.identity["kind"] == "sentence-transformers"
    assert encoder.identity["fingerprint"]


def test_match_runs_with_the_model_and_its_index_refuses_builtin(tiny_model, seeds_dir, tmp_path):
    from click.testing import CliRunner

    from aligner.cli import main

    runner = CliRunner()
    args = ["match", str(seeds_dir), "-o", str(tmp_path / "p.tsv"), "--index", str(tmp_path / "i")]
    result = runner.invoke(main, [*args, "--model", str(tiny_model), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, args)  # builtin now: refused
    assert result.exit_code == 3
    assert "made with encoder" in result.output


def test_unknown_model_is_a_clear_error(tmp_path):
    from aligner.encoders import load_encoder
    from aligner.errors import AlignerError

    with pytest.raises(AlignerError, match="could not load"):
        load_encoder(str(tmp_path / "no-such-model"))


def test_a_model_name_neither_cached_nor_reachable_fails_fast_in_one_line(
    seeds_dir, tmp_path, capfd, caplog
):
    import time

    from click.testing import CliRunner

    from aligner.cli import main

    start = time.monotonic()
    result = CliRunner().invoke(
        main, ["match", str(seeds_dir), "-o", str(tmp_path / "o.tsv"),
               "--model", "nonexistent-org/no-such-model"],
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aligner: error: could not load"), lines
    assert "--model e5" in lines[0] and "local" in lines[0]
    assert elapsed < 10, f"{elapsed:.1f} s"
    captured = capfd.readouterr()
    assert "Retry" not in captured.err + captured.out + caplog.text


def test_a_model_name_in_the_local_cache_loads_without_the_network(tiny_model, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    repo = tmp_path / "hub" / "models--test-org--tiny"
    shutil.copytree(tiny_model, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub")}
    env.pop("HF_HUB_OFFLINE", None)
    code = (
        "from aligner.encoders import load_encoder; "
        "print(load_encoder('test-org/tiny', device='cpu').encode(['سلام']).shape)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 32)"
    assert "Retry" not in done.stderr
