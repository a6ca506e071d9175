"""Inlay hints (the defaults that apply where a field is omitted, calibration results on
layer names) and code lenses ("Calibrate" at the top and above each algorithm block)."""

from __future__ import annotations

from collections.abc import Mapping

from lsprotocol import types

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.navigation import default_hints, layer_refs
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.syntax.tree import Field
from kvcal.grammar.text import LineIndex
from kvcal.server.lsp.convert import lsp_position, lsp_range

CALIBRATE_COMMAND = "kvcal.calibrate"


def inlay_hints(
    analysis: Analysis, index: LineIndex, start: int, end: int, *, defaults: bool, results: Mapping[str, str]
) -> list[types.InlayHint]:
    out: list[types.InlayHint] = []
    if defaults:
        for hint in default_hints(analysis):
            if not start <= hint.offset <= end:
                continue
            label = ", ".join(f"{name}: {value}" for name, value in hint.items)
            out.append(
                types.InlayHint(
                    position=lsp_position(index, hint.offset),
                    label=label if hint.at_start else f"defaults: {label}",
                    kind=types.InlayHintKind.Parameter,
                    tooltip="what applies where these fields are omitted",
                    padding_left=not hint.at_start,
                    padding_right=hint.at_start,
                )
            )
    for ref in _result_anchors(analysis, results):
        if start <= ref[0] <= end:
            out.append(
                types.InlayHint(
                    position=lsp_position(index, ref[0]),
                    label=ref[1],
                    padding_left=True,
                    tooltip="result of the last kvcal: Calibrate",
                )
            )
    out.sort(key=lambda h: (h.position.line, h.position.character))
    return out


def _result_anchors(analysis: Analysis, results: Mapping[str, str]) -> list[tuple[int, str]]:
    """Where a layer's result is shown: after its override's layer_name, else its first entry."""
    if not results:
        return []
    chosen: dict[str, tuple[int, str]] = {}
    for ref in layer_refs(analysis):
        if ref.name in results and (ref.name not in chosen or ref.role == "override"):
            chosen[ref.name] = (ref.end, results[ref.name])
    return list(chosen.values())


def _layers(n: int) -> str:
    return f"{n} layer{'s' if n != 1 else ''}"


def code_lenses(analysis: Analysis, index: LineIndex, uri: str, plans: list[LayerPlan]) -> list[types.CodeLens]:
    """``▶ Calibrate`` at the top (every layer) and above each algorithm block (the layers
    it applies to, with ``{"layers": [...]}``); with errors in the config they say so. None
    outside KV-cache configs."""
    if analysis.family != "kv":
        return []  # only KV-cache configs calibrate
    top = types.Position(line=0, character=0)
    errors = sum(p.is_error for p in analysis.problems)
    if errors:
        title = f"▶ Calibrate: fix {errors} error{'s' if errors != 1 else ''} first"
        return [
            types.CodeLens(
                range=types.Range(start=top, end=top),
                command=types.Command(title=title, command=CALIBRATE_COMMAND, arguments=[uri]),
            )
        ]
    out = [
        types.CodeLens(
            range=types.Range(start=top, end=top),
            command=types.Command(
                title=f"▶ Calibrate ({_layers(len(plans))})", command=CALIBRATE_COMMAND, arguments=[uri]
            ),
        )
    ]
    common = [p.layer_name for p in plans if p.config_source == "common"]
    for block, layers in _algorithm_blocks(analysis, common):
        if not layers:
            continue
        title = f"▶ Calibrate — {block.name.text} for {_layers(len(layers))}"
        rng = lsp_range(index, block.name.start, block.name.end)
        out.append(
            types.CodeLens(
                range=rng,
                command=types.Command(title=title, command=CALIBRATE_COMMAND, arguments=[uri, {"layers": layers}]),
            )
        )
    return out


def _algorithm_blocks(analysis: Analysis, common_layers: list[str]) -> list[tuple[Field, list[str]]]:
    """``(field, the layers it applies to)`` for every ifmr/hfmg block that is used."""
    root = analysis.root
    if root is None:
        return []
    common = root.child("kv_cache_quant_config")
    cal = common.child("calibration_config") if common else None
    blocks: list[tuple[Field, list[str]]] = []
    if cal is not None:
        blocks += [(o.field, common_layers) for n in ("ifmr_quantize", "hfmg_quantize") for o in cal.all(n)]
    for occ in root.all("override_layers_configs"):
        inner = occ.value.child("kv_data_quant_config")
        if not occ.value.has("layer_name") or inner is None:
            continue
        name = occ.value.value("layer_name")
        blocks += [(o.field, [name]) for n in ("ifmr_quantize", "hfmg_quantize") for o in inner.all(n)]
    return blocks
