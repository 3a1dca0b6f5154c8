"""Label QR sizes: the symbol version and module size with 4- and 13-character key ids.

    .venv/bin/python bench/label_sizes.py

For a few base URLs, a short-code and a GS1 label at version 2: the URL length,
the QR version at level Q, and per layout the module size in mm (SVG, PDF) and
in whole pixels at 300 and 203 dpi (PNG). The 4-character rows are the baseline:
keys published before key ids grew keep that length.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labels.payload import LabelIdentity, sign  # noqa: E402
from labels.render import LAYOUTS, LabelContent, place  # noqa: E402

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
BASES = ("http://127.0.0.1:8000", "https://trace.example.cn",
         "https://prefabtrace.hz-precast-group.com.cn")
IDENTITIES = {"code": LabelIdentity(code="K7M4Q2P9C"),
              "gs1": LabelIdentity(gtin="06912345678908", serial="YWQ-3F-0012")}
KEY_IDS = ("7QX4", "7QX4M2ABCDEFG")


def main() -> None:
    """Print one row per base URL, label kind and key id length."""
    print(f"{'base URL':44} {'kind':5} {'key id':>6} {'chars':>5} {'QR':>3}  "
          + "  ".join(f"{name + ' mm/300/203':>25}" for name in LAYOUTS))
    for base in BASES:
        for kind, identity in IDENTITIES.items():
            for kid in KEY_IDS:
                url = sign(base, identity, 2, KEY, kid)
                content = LabelContent(url, "K7M4Q2P9C", 2, "YWQ-1", "Wall", "Maker",
                                       "Project", 3250.0, "C35", date(2026, 11, 20), "QC")
                cells, version = [], 0
                for layout in LAYOUTS.values():
                    placed = place(content, layout)
                    version = (placed.matrix.shape[0] - 17) // 4
                    cells.append(f"{placed.module_mm:.3f} / {int(placed.module_mm * 300 / 25.4)}"
                                 f" / {int(placed.module_mm * 203 / 25.4)}")
                print(f"{base:44} {kind:5} {len(kid):>6} {len(url):>5} {version:>3}  "
                      + "  ".join(f"{cell:>25}" for cell in cells))


if __name__ == "__main__":
    main()
