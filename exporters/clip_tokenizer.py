"""CLIP's byte-level BPE tokenizer, standalone: ids identical to open_clip's SimpleTokenizer.

Text towers take token ids, not text (rule A4 forbids the custom-domain ops an in-graph tokenizer
needs), so whoever calls a `_txt.onnx` artifact must tokenize exactly as training did. This module
needs only vocab.json + merges.txt (written beside the artifact), `regex` and `ftfy`: no torch, no
transformers. The saved directory also loads with `transformers.CLIPTokenizer.from_pretrained(dir)`.

Normalization, as open_clip: ftfy.fix_text, HTML unescape (twice), strip, collapse whitespace, lower.
Layout of the ids: [<|startoftext|>, bpe..., <|endoftext|>, 0, 0, ...], truncated to the context length
with <|endoftext|> kept as the last id.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
from pathlib import Path

import numpy as np

from nxport.core.errors import MissingDependencyError, NxportError

START, END = "<|startoftext|>", "<|endoftext|>"
DEFAULT_CONTEXT_LENGTH = 77
# open_clip ships OpenAI's merges: the file has a header line, then 48,894 merges are used.
OPENAI_MERGES = 49152 - 256 - 2


@functools.cache
def byte_to_unicode() -> dict[int, str]:
    """Reversible map from the 256 byte values to printable unicode characters (GPT-2 / CLIP BPE).

    Printable latin-1 bytes map to themselves; the rest are shifted past 255 so that BPE never
    sees whitespace or control characters.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    # Insertion order matters: the vocabulary lists printable bytes first, then the shifted ones.
    mapping = {byte: chr(byte) for byte in printable}
    shifted = [byte for byte in range(256) if byte not in mapping]
    mapping.update({byte: chr(256 + i) for i, byte in enumerate(shifted)})
    return mapping


def _regex():
    try:
        import regex
    except ImportError as exc:
        raise MissingDependencyError("regex", "the CLIP tokenizer") from exc
    return regex


def clean_text(text: str) -> str:
    try:
        import ftfy
    except ImportError as exc:
        raise MissingDependencyError("ftfy", "the CLIP tokenizer") from exc
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


class ClipTokenizer:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]],
                 context_length: int = DEFAULT_CONTEXT_LENGTH):
        if START not in vocab or END not in vocab:
            raise NxportError(f"CLIP vocabulary lacks {START} / {END} ({len(vocab)} entries)",
                              fix="rebuild vocab.json from the model's BPE file")
        self.vocab, self.merges, self.context_length = vocab, merges, context_length
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.start_id, self.end_id = vocab[START], vocab[END]
        self.pattern = _regex().compile(
            r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            _regex().IGNORECASE)
        # Special tokens typed inside a prompt are plain text, as in open_clip: only the layout adds them.
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_bpe_file(cls, path: str | Path | None = None, context_length: int = DEFAULT_CONTEXT_LENGTH):
        """Build from open_clip's bpe_simple_vocab_16e6.txt.gz (the default when installed)."""
        if path is None:
            try:
                from open_clip.tokenizer import default_bpe
            except ImportError as exc:
                raise MissingDependencyError("open_clip_torch", "building the CLIP vocabulary") from exc
            path = default_bpe()
        lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")[1:OPENAI_MERGES + 1]
        merges = [tuple(line.split()) for line in lines]
        symbols = list(byte_to_unicode().values())
        tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START, END]
        return cls({t: i for i, t in enumerate(tokens)}, merges, context_length)

    @classmethod
    def from_directory(cls, directory: str | Path, context_length: int | None = None):
        directory = Path(directory)
        try:
            vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
            lines = (directory / "merges.txt").read_text(encoding="utf-8").split("\n")
            config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8")) \
                if (directory / "tokenizer_config.json").is_file() else {}
        except (OSError, json.JSONDecodeError) as exc:
            raise NxportError(f"Cannot read a CLIP tokenizer from {str(directory)!r}: {exc}",
                              fix="pass the <name>_tokenizer directory written next to the _txt.onnx") from exc
        merges = [tuple(line.split()) for line in lines if line and not line.startswith("#version")]
        length = context_length or int(config.get("model_max_length", DEFAULT_CONTEXT_LENGTH))
        return cls(vocab, merges, length)

    def save(self, directory: str | Path) -> list[Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "vocab.json": json.dumps(self.vocab, ensure_ascii=False, separators=(",", ":")),
            "merges.txt": "#version: 0.2\n" + "\n".join(" ".join(m) for m in self.merges) + "\n",
            "tokenizer_config.json": json.dumps({
                "tokenizer_class": "CLIPTokenizer", "model_max_length": self.context_length,
                "bos_token": START, "eos_token": END, "unk_token": END, "pad_token": END,
                "nxport_padding": "zeros after <|endoftext|>, as open_clip"}, indent=2),
        }
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        return [directory / name for name in files]

    def bpe(self, word: str) -> list[str]:
        if word in self._cache:
            return self._cache[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = {(a, b) for a, b in zip(parts, parts[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self._cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        to_unicode = byte_to_unicode()
        ids = []
        for token in self.pattern.findall(clean_text(text)):
            word = "".join(to_unicode[b] for b in token.encode("utf-8"))
            ids.extend(self.vocab[piece] for piece in self.bpe(word))
        return ids

    def __call__(self, texts: str | list[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.start_id] + self.encode(text) + [self.end_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.end_id
            out[row, : len(ids)] = ids
        return out


def load_tokenizer(directory: str | Path) -> ClipTokenizer:
    """The tokenizer written beside a `_txt.onnx` artifact (a `<name>_tokenizer/` directory)."""
    return ClipTokenizer.from_directory(directory)
