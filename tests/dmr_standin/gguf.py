"""What the real runner reads from a .gguf when it packages or lists a model.

Follows docker/model-runner `pkg/distribution/format/gguf.go` ExtractConfig (642c7211), which uses
github.com/gpustack/gguf-parser-go:

- `size`: the parser's model size, i.e. the bytes of the tensor data (file size minus the offset
  where tensor data starts), printed with binary units (`235.16 MiB`, later `235.16MiB` by
  normalizeUnitString). For the Gemma 3 270M Q4_K_M file this gives the captures' `235.16MiB`
  (after-pull-listings.txt), where the file itself is 241.39 MiB.
- `quantization`: the parser's FileType string for `general.file_type` (`MOSTLY_Q4_K_M` for 15).
- `context_size`: `<arch>.context_length`.
- `gguf`: every header key/value as a string (extractGGUFMetadata): integers in decimal, floats
  as Go's `%f`, booleans `true`/`false`, arrays of at most 50 elements joined with ", ", longer
  arrays left out.

The header layout is the GGUF specification's (ggml docs/gguf.md); this is a plain reader of it,
written for the stand-in. Parameters are not counted here: the caller declares them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

MAX_ARRAY = 50  # gguf.go maxArraySize

# GGUF value types (gguf.md)
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALARS = {
    UINT8: "<B",
    INT8: "<b",
    UINT16: "<H",
    INT16: "<h",
    UINT32: "<I",
    INT32: "<i",
    FLOAT32: "<f",
    BOOL: "<?",
    UINT64: "<Q",
    INT64: "<q",
    FLOAT64: "<d",
}

# llama.cpp `enum llama_ftype` names as gguf-parser-go prints them (GGUFFileType.String)
FILE_TYPES = {
    0: "ALL_F32",
    1: "MOSTLY_F16",
    2: "MOSTLY_Q4_0",
    3: "MOSTLY_Q4_1",
    7: "MOSTLY_Q8_0",
    8: "MOSTLY_Q5_0",
    9: "MOSTLY_Q5_1",
    10: "MOSTLY_Q2_K",
    11: "MOSTLY_Q3_K_S",
    12: "MOSTLY_Q3_K_M",
    13: "MOSTLY_Q3_K_L",
    14: "MOSTLY_Q4_K_S",
    15: "MOSTLY_Q4_K_M",
    16: "MOSTLY_Q5_K_S",
    17: "MOSTLY_Q5_K_M",
    18: "MOSTLY_Q6_K",
    32: "MOSTLY_BF16",
}


@dataclass
class Header:
    metadata: dict[str, str] = field(default_factory=dict)  # as extractGGUFMetadata renders it
    raw: dict[str, Any] = field(default_factory=dict)  # scalar values as read
    tensor_data_offset: int = 0
    file_size: int = 0

    @property
    def model_bytes(self) -> int:
        return self.file_size - self.tensor_data_offset

    @property
    def architecture(self) -> str:
        return str(self.raw.get("general.architecture", "")).strip()

    @property
    def quantization(self) -> str:
        file_type = self.raw.get("general.file_type")
        return FILE_TYPES.get(int(file_type), "") if file_type is not None else ""

    @property
    def context_length(self) -> int | None:
        value = self.raw.get(f"{self.architecture}.context_length")
        return int(value) if value else None


def binary_size(n: int) -> str:
    """gguf-parser-go GGUFBytesScalar.String(): binary units with two decimals (`235.16 MiB`)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.2f} {units[i]}"


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(f: BinaryIO) -> str:
    return f.read(_read(f, "<Q")).decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind == STRING:
        return _string(f)
    if kind == ARRAY:
        item_kind, count = _read(f, "<I"), _read(f, "<Q")
        return (item_kind, [_value(f, item_kind) for _ in range(count)])
    if kind not in _SCALARS:
        raise ValueError(f"unknown GGUF value type {kind}")
    return _read(f, _SCALARS[kind])


def _render(kind: int, value: Any) -> str:
    """Go's fmt of one value as extractGGUFMetadata writes it."""
    if kind in (FLOAT32, FLOAT64):
        return f"{value:f}"
    if kind == BOOL:
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=8)
def _cached(path: str, size: int, mtime: float) -> Header:
    header = Header(file_size=size)
    with open(path, "rb", buffering=1 << 20) as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = _read(f, "<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is not supported")
        tensors, kvs = _read(f, "<Q"), _read(f, "<Q")
        for _ in range(kvs):
            key, kind = _string(f), _read(f, "<I")
            value = _value(f, kind)
            if kind == ARRAY:
                item_kind, items = value
                if len(items) > MAX_ARRAY:
                    continue
                # nested arrays render as nothing (handleGGUFArray skips them)
                rendered = [_render(item_kind, v) for v in items if item_kind != ARRAY]
                header.metadata[key] = ", ".join(rendered)
            else:
                header.metadata[key] = _render(kind, value)
                header.raw[key] = value
        for _ in range(tensors):
            _string(f)
            dims = _read(f, "<I")
            f.read(8 * dims + 4 + 8)
        alignment = int(header.raw.get("general.alignment", 32) or 32)
        position = f.tell()
        header.tensor_data_offset = position + (-position % alignment)
    return header


def read_header(path: Path) -> Header:
    """The parsed header of the .gguf at `path` (cached per path, size and mtime)."""
    stat = Path(path).stat()
    return _cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime)
