"""The bundled AMCT schemas: the config family AMCT reads with protobuf's ``text_format``,
compiled by ``make proto`` into the committed descriptor set ``proto/schema.binpb`` (with
source info: the doc comments), and the record file format.

Each :class:`Family` member is one root message; :func:`family_schema` gives its
:class:`~kvcal.grammar.schema.model.Schema`. The message classes (for the record files,
and for the tests' differential checks) come from protobuf's message factory: no
``*_pb2.py``, so no tie to one protobuf gencode version.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor

from kvcal.grammar.schema.model import Doc, Schema, SchemaSet

CONFIG_PACKAGE = "AMCTPytorchQuantCaliProto"
RECORD_PACKAGE = "AMCTPytorchProto"
ROOT_MESSAGE = f"{CONFIG_PACKAGE}.AMCTQuantCaliConfig"
RECORD_MESSAGE = f"{RECORD_PACKAGE}.ScaleOffsetRecord"


@dataclass(frozen=True)
class Family:
    """A member of AMCT's config family: one root message of the bundled protos."""

    key: str  # short, stable: kv, ptq, retrain, distill, acp
    root: str  # full name of the root message
    title: str  # what it is, as the user knows it
    api: str  # the AMCT API that reads it
    proto: str  # AMCT's file name for the schema

    @property
    def message(self) -> str:
        return self.root.rpartition(".")[2]


FAMILIES: tuple[Family, ...] = (
    Family(
        "kv",
        ROOT_MESSAGE,
        "AMCT KV-cache quantization config",
        "create_quant_cali_config",
        "quant_calibration_config_pytorch.proto",
    ),
    Family(
        "ptq",
        "AMCTPytorchProto.AMCTConfig",
        "AMCT post-training quantization config",
        "create_quant_config",
        "calibration_config_pytorch.proto",
    ),
    Family(
        "ptq-framework",
        "AMCTFrameworkProto.AMCTConfig",
        "AMCT ONNX/TensorFlow/Caffe post-training quantization config",
        "create_quant_config (amct_onnx, amct_tensorflow, amct_caffe)",
        "calibration_config_framework.proto",
    ),
    Family(
        "retrain",
        "AMCTPytorchProto.AMCTRetrainConfig",
        "AMCT retrain (QAT / pruning) config",
        "create_quant_retrain_config / create_prune_retrain_model",
        "retrain_config_pytorch.proto",
    ),
    Family(
        "distill",
        "AMCTPytorchDistillProto.AMCTDistillConfig",
        "AMCT distillation config",
        "create_distill_config",
        "distill_config_pytorch.proto",
    ),
    Family(
        "acp",
        "AMCTProto.AutoChannelPruneConfig",
        "AMCT auto channel-prune search config",
        "auto_channel_prune_search",
        "basic_info.proto",
    ),
)
FAMILY_BY_KEY = {f.key: f for f in FAMILIES}
FAMILY_BY_ROOT = {f.root: f for f in FAMILIES}


def descriptor_set_bytes() -> bytes:
    return files("kvcal.grammar.schema.proto").joinpath("schema.binpb").read_bytes()


@cache
def proto_dir() -> Path | None:
    """The folder of the bundled ``.proto`` files on disk (go to definition opens them)."""
    resource = files("kvcal.grammar.schema.proto")
    try:
        with as_file(resource) as path:
            folder = Path(path)
        return folder if folder.is_dir() else None
    except (OSError, TypeError):  # pragma: no cover - a zipped install
        return None


@cache
def bundled_set() -> SchemaSet:
    """Every bundled .proto in one set: AMCT's files coexist in their packages too."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_bytes())
    folder = proto_dir()
    sources = {f.name: folder / f.name for f in fds.file} if folder is not None else {}
    return SchemaSet(fds, sources, label="AMCT (bundled)")


@cache
def family_schema(key: str) -> Schema | None:
    """The schema of a family member, or None when the bundled set lacks it."""
    family = FAMILY_BY_KEY[key]
    desc = bundled_set().find_message(family.root)
    if desc is None:
        return None
    return Schema(bundled_set(), desc, family.key, f"{family.title} ({family.message})")


def family_schemas() -> list[Schema]:
    """Every family member the bundled set has, in FAMILIES order."""
    return [s for f in FAMILIES if (s := family_schema(f.key)) is not None]


def kv_schema() -> Schema:
    schema = family_schema("kv")
    if schema is None:  # pragma: no cover - the KV proto is always bundled
        raise RuntimeError("the bundled descriptor set has no KV-cache schema: run `make proto`")
    return schema


# -- the KV-cache schema and the record format by name (the calibration engine's needs) -------


def pool() -> Any:
    return bundled_set().pool


def message_descriptor(full_name: str = ROOT_MESSAGE) -> Descriptor:
    return bundled_set().message(full_name)


@cache
def message_class(full_name: str = ROOT_MESSAGE) -> Any:
    """The generated message class for *full_name* (protobuf's message factory)."""
    return bundled_set().message_class(full_name)


def root() -> Descriptor:
    return message_descriptor(ROOT_MESSAGE)


def doc(full_name: str) -> Doc:
    """Doc comment of a bundled message, field (``Msg.field``) or enum value; empty when none."""
    return bundled_set().doc(full_name)
