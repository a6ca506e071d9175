"""What the editor shows and offers about a document's schema: a summary for the status bar
(``kvcal.schema``) and the choices of ``kvcal: Select Schema…``, each with the edit that
writes its header."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.schema import FAMILIES
from kvcal.grammar.schema.compile import CompileError, compile_proto
from kvcal.grammar.schema.header import read_header
from kvcal.server.lsp.convert import lsp_range, lsp_text_edit
from kvcal.server.lsp.snapshot import Snapshot

if TYPE_CHECKING:  # (an annotation: the server's handlers call in here)
    from kvcal.server.lsp.server import KvcalServer

logger = logging.getLogger("kvcal.lsp")
MAX_CHOICES = 60


def schema_summary(analysis: Analysis) -> dict[str, Any]:
    res = analysis.resolution
    schema = res.schema
    short = schema.root.name if schema is not None else "no schema"
    if len(res.candidates) > 1:
        short += " (ambiguous)"
    return {
        "schema": schema.name if schema is not None else None,
        "title": schema.shown if schema is not None else None,
        "family": schema.family if schema is not None else None,
        "how": res.how,
        "why": res.why,
        "label": short,
        "proto": str(schema.proto) if schema is not None and schema.proto is not None else None,
    }


def _header_edit(snap: Snapshot, lines: list[str]) -> dict[str, Any]:
    """Replace the document's header lines (proto-file, proto-message) with *lines*, or
    insert them at the top."""
    text = snap.text
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    new = "".join(line + newline for line in lines)
    header = snap.analysis.resolution.header
    old = [v for v in (header.file, header.message) if v is not None] if header is not None else []
    if old:
        start, end = min(v.line_start for v in old), max(v.line_end for v in old)
        edits = [lsp_text_edit(snap.index, start, end, new)]
    else:
        at = 1 if text.startswith("\ufeff") else 0
        edits = [lsp_text_edit(snap.index, at, at, new)]
    return {"changes": {snap.uri: [_edit_json(e) for e in edits]}}


def _edit_json(edit: Any) -> dict[str, Any]:
    r = edit.range
    return {
        "range": {
            "start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character},
        },
        "newText": edit.new_text,
    }


def _header_path(proto: Path, document: Path | None, proto_path: tuple[Path, ...], workspace: tuple[Path, ...]) -> str:
    """How a header names *proto*, as portable as the header search allows: relative to the
    document's folder when both lie in one workspace folder (``../protos/job.proto`` works
    for every editor and for the command line), else relative to the proto-path folder that
    holds it (found there by the search), else absolute."""
    proto = Path(os.path.normpath(proto))
    if document is not None:
        folder = Path(os.path.normpath(document.parent))
        if folder == proto.parent or any(folder.is_relative_to(w) and proto.is_relative_to(w) for w in workspace):
            try:
                return Path(os.path.relpath(proto, folder)).as_posix()
            except ValueError:  # (another drive)
                pass
    for base in proto_path:
        if proto.is_relative_to(base):
            return proto.relative_to(base).as_posix()
    return proto.as_posix()


def schema_choices(ls: KvcalServer, snap: Snapshot) -> list[dict[str, Any]]:
    """The bundled AMCT configs, then every message of the workspace's .proto files."""
    out: list[dict[str, Any]] = []
    for family in FAMILIES:
        out.append(
            {
                "label": family.message,
                "description": f"{family.title} (bundled)",
                "kind": "bundled",
                "edit": _header_edit(snap, [f"# proto-file: {family.proto}", f"# proto-message: {family.root}"]),
            }
        )
    document = snap.path
    options = ls.schema_options(snap.uri, snap.settings)
    include = tuple(dict.fromkeys([*options.proto_path, *options.workspace]))
    for proto in options.known_protos:
        if len(out) >= MAX_CHOICES:
            break
        try:
            schema_set = compile_proto(proto, include=include)
        except CompileError as exc:
            logger.info("%s does not compile: %s", proto, exc)
            continue
        name = schema_set.file_name(proto)
        written = _header_path(proto, document, options.proto_path, options.workspace)
        for message in schema_set.top_messages(name) if name is not None else []:
            desc = schema_set.message(message)
            out.append(
                {
                    "label": desc.name,
                    "description": f"{message} — {written}",
                    "kind": "proto",
                    "edit": _header_edit(snap, [f"# proto-file: {written}", f"# proto-message: {message}"]),
                }
            )
    return out[:MAX_CHOICES]


def header_completion(ls: KvcalServer, snap: Snapshot, offset: int) -> list[types.CompletionItem] | None:
    """Completion on a header line's value: ``# proto-file:`` / ``# proto-import:`` the
    workspace's .proto files (as a header names them), ``# proto-message:`` the top-level
    messages of the header's .proto (the bundled AMCT roots without one). None elsewhere."""
    header = snap.analysis.resolution.header or read_header(snap.text)
    values = [("file", header.file), ("message", header.message), *(("import", v) for v in header.imports)]
    hit = next(((k, v) for k, v in values if v is not None and v.start <= offset <= v.end), None)
    if hit is None:
        return None
    key, value = hit
    rng = lsp_range(snap.index, value.start, value.end)
    options = ls.schema_options(snap.uri, snap.settings)
    if key != "message":
        written = [_header_path(p, snap.path, options.proto_path, options.workspace) for p in options.known_protos]
        return [
            types.CompletionItem(
                label=w, kind=types.CompletionItemKind.File, text_edit=types.TextEdit(range=rng, new_text=w)
            )
            for w in dict.fromkeys(written)
        ]
    protos = snap.analysis.resolution.protos
    if not protos:  # no .proto named: the bundled AMCT configs
        return [
            types.CompletionItem(
                label=f.root,
                kind=types.CompletionItemKind.Class,
                detail=f"{f.title} (bundled)",
                text_edit=types.TextEdit(range=rng, new_text=f.root),
            )
            for f in FAMILIES
        ]
    include = tuple(dict.fromkeys([protos[0].parent, *options.proto_path, *options.workspace]))
    try:
        schema_set = compile_proto(protos[0], include=include)
    except CompileError:
        return []
    own = schema_set.file_name(protos[0])
    return [
        types.CompletionItem(
            label=name,
            kind=types.CompletionItemKind.Class,
            detail=schema_set.doc(name).text(ls.client.locale).split("\n")[0] or None,
            text_edit=types.TextEdit(range=rng, new_text=name),
        )
        for name in (schema_set.top_messages(own) if own is not None else [])
    ]
