"""Bytes on disk: content hashes and canonical JSON.

The same helpers serve the delivery (a sha256 per input file and a fingerprint), the gate
that writes released files, and the report's provenance and manifest, so a file is hashed
and a JSON document serialised one way everywhere.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``.

    >>> sha256_bytes(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk_size: int = 1 << 24) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def dumps_json(obj) -> str:
    """JSON with sorted keys, two-space indent and a final newline: stable bytes.

    >>> print(dumps_json({"b": 1, "a": [1, 2]}), end="")
    {
      "a": [
        1,
        2
      ],
      "b": 1
    }
    """
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
