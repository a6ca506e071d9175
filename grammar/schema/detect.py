"""Which member of the bundled AMCT family a document is, by its content (spec
AMCT-CONFIG-FAMILY.md §0.3), when nothing says so explicitly.

For each member, the names the document writes are looked up in that schema, recursively
(a field's block is looked up in the field's message): the names a member does not know
are the schema errors a guess of it would produce. A member is a candidate when it knows
at least one top-level name. One candidate *dominates* when every other candidate would
report at least the errors it reports. Then:

- one dominating member, and the document is mostly its fields: that member (its unknown
  names are most likely typos, reported as such);
- several members fit equally (``batch_num`` alone, ``skip_layers`` alone): the folder name
  (``retrain_conf``, ``prune``, ``distill``, ``kv_cache``) decides, else the most common
  member is chosen (PRIOR) and every problem is checked against all of them (only what
  they share is reported);
- no member dominates (fields of two members mixed), or the document is mostly foreign:
  no guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kvcal.grammar.schema.bundled import family_schemas
from kvcal.grammar.schema.model import Schema
from kvcal.grammar.syntax.tree import ListValue, Message, Scalar

__all__ = ["Detection", "detect"]

#: folder names AMCT's samples and users give each kind of config
_FOLDER_HINTS = {
    "retrain_conf": "retrain",
    "retrain": "retrain",
    "qat": "retrain",
    "prune": "retrain",
    "pruning": "retrain",
    "compressed": "retrain",
    "distill": "distill",
    "distillation": "distill",
    "kv_cache": "kv",
    "kvcache": "kv",
    "kv": "kv",
    "ptq": "ptq",
    "calibration": "ptq",
    "auto_prune": "acp",
    "channel_prune": "acp",
    "amct_pytorch": "ptq",
    "pytorch": "ptq",
    "amct_onnx": "ptq-framework",
    "onnx": "ptq-framework",
    "amct_tensorflow": "ptq-framework",
    "tensorflow": "ptq-framework",
    "amct_caffe": "ptq-framework",
    "caffe": "ptq-framework",
}
#: layer types as PyTorch names them (AMCT's quantizable classes), and as the other
#: frameworks do: the type names a post-training config writes tell its framework
_TORCH_TYPES = frozenset(
    {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear", "AvgPool2d", "LSTM", "GRU"}
)
_OTHER_TYPES = frozenset(
    {
        "Conv",
        "ConvTranspose",
        "Gemm",
        "MatMul",
        "AveragePool",
        "Conv2D",
        "Conv3D",
        "DepthwiseConv2dNative",
        "Conv2DBackpropInput",
        "AvgPool",
        "Convolution",
        "Deconvolution",
        "InnerProduct",
        "Pooling",
        "BatchMatMul",
        "BatchMatMulV2",
    }
)
_TYPE_FIELDS = frozenset({"layer_type", "skip_layer_types"})
_MAX_NAMES = 3
#: which member to take when the content fits several equally: the most common first
#: (post-training quantization configs far outnumber the others)
PRIOR = ("ptq", "ptq-framework", "retrain", "kv", "distill", "acp")


@dataclass(frozen=True)
class Detection:
    schema: Schema | None
    why: str
    #: every member the content fits equally (the chosen one first); one when unambiguous
    candidates: tuple[Schema, ...] = ()


@dataclass
class _Fit:
    schema: Schema
    known_top: set[str]
    known: int
    unknown: set[tuple[int, str]]  # (depth, name)


#: fields looked at per member: enough to tell the members apart, bounded on big files
_VISITS = 1500


def _fit(schema: Schema, tree: Message, deep: bool) -> _Fit:
    """How well *tree* fits *schema*: top-level names only, or (*deep*) every block down to
    a bounded number of fields."""
    known_top: set[str] = set()
    known = 0
    unknown: set[tuple[int, str]] = set()
    pending: list[tuple[Message, Descriptor, int]] = [(tree, schema.root, 0)]
    visits = 0
    while pending:
        message, desc, depth = pending.pop()
        visits += len(message.fields)
        if depth > 12 or visits > _VISITS:
            continue
        by_name = desc.fields_by_name
        for fld in message.fields:
            if fld.name.kind != "plain":
                continue
            name = fld.name.text
            fd = by_name.get(name)
            if fd is None:
                lower = by_name.get(name.lower())
                fd = (
                    lower
                    if lower is not None and lower.message_type is not None and lower.message_type.name == name
                    else None
                )
            if fd is None:
                unknown.add((depth, name))
                continue
            known += 1
            if depth == 0:
                known_top.add(name)
            if deep and fd.message_type is not None:
                values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
                pending.extend((v, fd.message_type, depth + 1) for v in values if isinstance(v, Message))
    return _Fit(schema, known_top, known, unknown)


def _top_fit(schema: Schema, counts: Counter[str]) -> _Fit:
    """The top-level names only, each distinct name looked up once."""
    by_name = schema.root.fields_by_name
    known_top = {n for n in counts if n in by_name or _group(by_name, n)}
    return _Fit(schema, known_top, sum(counts[n] for n in known_top), {(0, n) for n in counts if n not in known_top})


def _group(by_name: Mapping[str, FieldDescriptor], name: str) -> bool:
    fd = by_name.get(name.lower())
    return fd is not None and fd.message_type is not None and fd.message_type.name == name


def _strictly_dominating(fits: list[_Fit]) -> bool:
    """One member's top-level unknown names are fewer than, and among, every other's."""
    return any(all(f.unknown < g.unknown for g in fits if g is not f) for f in fits)


def _names(names: set[str] | list[str]) -> str:
    shown = sorted(names)[:_MAX_NAMES]
    more = "" if len(names) <= _MAX_NAMES else f" and {len(names) - _MAX_NAMES} more"
    return ", ".join(f"'{n}'" for n in shown) + more


def _label(schema: Schema, among: list[Schema]) -> str:
    """A member as the user tells it from the others: its root message, with its package
    when two members share the root's name (the PyTorch and the other frameworks' AMCTConfig)."""
    same = sum(s.root.name == schema.root.name for s in among)
    return schema.root.full_name if same > 1 else schema.root.name


def detect(tree: Message, path: PurePath | None = None) -> Detection:
    """The AMCT family member *tree* is written as, and why (see the module's docstring)."""
    if not tree.fields:
        return Detection(None, "the file is empty: nothing says which schema it follows")
    counts = Counter(f.name.text for f in tree.fields if f.name.kind == "plain")
    fits = [_top_fit(s, counts) for s in family_schemas()]
    candidates = [f for f in fits if f.known_top]
    if len(candidates) > 1 and not _strictly_dominating(candidates):
        # the top level does not tell them apart: look into the blocks (an override's contents)
        candidates = [_fit(f.schema, tree, deep=True) for f in candidates]
    if not candidates:
        return Detection(None, "none of its top-level fields belongs to an AMCT config")
    dominating = [f for f in candidates if all(f.unknown <= g.unknown for g in candidates)]
    if not dominating:
        by_member = []
        for f in sorted(candidates, key=lambda f: -len(f.known_top)):
            only = {n for n in f.known_top if all(n not in g.known_top for g in candidates if g is not f)}
            if only:
                by_member.append(f"{_names(only)} of {f.schema.root.name}")
        mixed = "; ".join(by_member) if by_member else "fields of several AMCT configs"
        return Detection(None, f"it mixes fields of different AMCT configs ({mixed}), so no schema is guessed")
    best = dominating[0]
    if best.unknown and best.known < 2 * len(best.unknown):
        return Detection(
            None,
            f"most of its fields ({_names({n for _, n in best.unknown})}) belong to no AMCT "
            "config, so it is not taken for one",
        )
    if len(dominating) == 1:
        rivals = [g for g in candidates if g is not best]
        telling = {n for n in best.known_top if all(n not in g.known_top for g in rivals)}
        if not telling:  # decided one level down (an override's contents)
            telling = {n for g in rivals for _, n in g.unknown - best.unknown}
        why = (
            f"recognised by its content: {_names(telling)} "
            + ("is" if len(telling) == 1 else "are")
            + f" only in {best.schema.root.name}"
            if telling
            else f"recognised by its content ({best.schema.root.name})"
        )
        return Detection(best.schema, why, (best.schema,))
    tied = sorted(dominating, key=lambda f: PRIOR.index(f.schema.family) if f.schema.family in PRIOR else len(PRIOR))
    members = [f.schema for f in tied]
    hinted = _folder_hint(path, members)
    if hinted is not None:
        names = ", ".join(_label(s, members) for s in members)
        return Detection(hinted, f"its fields fit {names}; the folder name says {_label(hinted, members)}", (hinted,))
    typed = _framework_by_types(tree, members)
    if typed is not None:
        chosen, why = typed
        return Detection(chosen, f"recognised by its content: {why}", (chosen,))
    chosen = tied[0].schema
    others = ", ".join(_label(s, members) for s in members[1:])
    shared = _names(best.known_top)
    return Detection(
        chosen,
        f"its fields ({shared}) fit {len(members)} AMCT configs, {_label(chosen, members)} (the "
        f"most common, shown) and {others}: only the problems they all share are reported",
        tuple(f.schema for f in tied),
    )


def _folder_hint(path: PurePath | None, schemas: list[Schema]) -> Schema | None:
    """The innermost folder whose name names one of the tied members."""
    if path is None:
        return None
    wanted = {s.family: s for s in schemas}
    for part in reversed(path.parts[:-1]):
        key = _FOLDER_HINTS.get(part.lower())
        if key is not None and key in wanted:
            return wanted[key]
    return None


def _framework_by_types(tree: Message, schemas: list[Schema]) -> tuple[Schema, str] | None:
    """Between the PyTorch and the other frameworks' post-training configs (the same field
    names): the layer types the file writes, PyTorch classes or ONNX/TensorFlow/Caffe ops."""
    by_family = {s.family: s for s in schemas}
    if set(by_family) != {"ptq", "ptq-framework"}:
        return None
    names: set[str] = set()
    pending = [tree]
    while pending and len(names) < 200:
        message = pending.pop()
        for fld in message.fields:
            values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
            for value in values:
                if isinstance(value, Message):
                    pending.append(value)
                elif (
                    isinstance(value, Scalar)  # (a nested list `[["Conv2d"]]` parses; the walk refuses it)
                    and fld.name.text in _TYPE_FIELDS
                    and value.kind == "string"
                    and value.decoded is not None
                ):
                    names.add(value.decoded.decode("utf-8", "replace"))
    if not names:
        return None
    torch, other = names & _TORCH_TYPES, names & _OTHER_TYPES
    if torch and not other:
        return by_family["ptq"], f"its layer types ({_names(torch)}) are PyTorch classes"
    if other and not torch:
        return by_family["ptq-framework"], f"its layer types ({_names(other)}) are ONNX/TensorFlow/Caffe operators"
    return None
