"""Regenerate the committed protobuf artifacts from the .proto files here.

Run ``make proto`` (``python scripts/generate_schema.py``) after editing a
``.proto``. It writes ``schema.binpb``: protoc's FileDescriptorSet of every file *with
source info* (the doc comments). kvcal.grammar.schema builds the message classes from it
with protobuf's descriptor pool and message factory (no ``*_pb2.py`` gencode, so no
coupling to one protobuf runtime version) and reads the doc comments for hover.
Needs grpcio-tools (dev extra).
``tests/grammar/test_schema.py`` fails when the committed artifacts are stale.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

#: the bundled .proto files and their descriptor set (this is a build-time script)
HERE = Path(__file__).resolve().parents[1] / "grammar" / "schema" / "proto"
PROTOS = (
    "quant_calibration_config_pytorch.proto",
    "scale_offset_record_pytorch.proto",
    "calibration_config_pytorch.proto",
    "calibration_config_framework.proto",
    "retrain_config_pytorch.proto",
    "distill_config_pytorch.proto",
    "basic_info.proto",
)
DESCRIPTOR_SET = "schema.binpb"


def generate(out_dir: Path) -> list[Path]:
    """Compile the protos into *out_dir*; return the files written."""
    try:
        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - dev dependency
        raise SystemExit("grpcio-tools is needed: pip install -e '.[dev]'") from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{HERE}",
        f"--descriptor_set_out={out_dir / DESCRIPTOR_SET}",
        "--include_source_info",
        *(str(HERE / p) for p in PROTOS),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on " + ", ".join(PROTOS))
    return [out_dir / DESCRIPTOR_SET]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            target = HERE / path.name
            target.write_bytes(path.read_bytes())
            print(f"wrote {target.relative_to(HERE.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
