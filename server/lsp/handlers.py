"""LSP feature handlers: get the document, call grammar (or the calibration), convert,
return. Each is guarded: a failure is logged and answered with an empty result."""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from kvcal.grammar.formatter import FormatError, format_text
from kvcal.grammar.navigation import (
    declaration_name,
    document_symbols,
    folding_ranges,
    layer_definitions,
    layer_references,
    tokens,
)
from kvcal.server.lsp import actions
from kvcal.server.lsp.calibration import calibrate_command, uri_argument
from kvcal.server.lsp.completion import completion_items
from kvcal.server.lsp.convert import (
    TOKEN_MODIFIERS,
    TOKEN_TYPES,
    lsp_diagnostics,
    lsp_folding_range,
    lsp_location,
    lsp_range,
    lsp_semantic_tokens,
    lsp_symbol,
    lsp_text_edit,
    offset_at,
    offsets_of,
)
from kvcal.server.lsp.diagnostics import diagnostics_for, results_of
from kvcal.server.lsp.hints import CALIBRATE_COMMAND, code_lenses, inlay_hints
from kvcal.server.lsp.hover import hover_text
from kvcal.server.lsp.outcome import Outcome
from kvcal.server.lsp.schemas import header_completion, schema_choices, schema_summary
from kvcal.server.lsp.server import ClientInfo, KvcalServer, guarded
from kvcal.server.lsp.settings import SECTION
from kvcal.server.lsp.snapshot import Snapshot

T = types


# -- lifecycle and synchronisation -------------------------------------------------------------


def initialize(ls: KvcalServer, params: T.InitializeParams) -> None:
    ls.client = ClientInfo.from_params(params)


async def initialized(ls: KvcalServer, params: T.InitializedParams) -> None:
    registrations = []
    if ls.client.config_registration:
        registrations.append(
            T.Registration(
                id=str(uuid.uuid4()),
                method=T.WORKSPACE_DID_CHANGE_CONFIGURATION,
                register_options=T.DidChangeConfigurationRegistrationOptions(section=SECTION),
            )
        )
    if ls.client.watched_files_registration:  # a .proto edited, created or deleted: its documents again
        registrations.append(
            T.Registration(
                id=str(uuid.uuid4()),
                method=T.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=T.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[T.FileSystemWatcher(glob_pattern="**/*.proto")]
                ),
            )
        )
    for registration in registrations:
        try:
            await ls.client_register_capability_async(T.RegistrationParams(registrations=[registration]))
        except Exception as exc:
            ls.log_failure(f"registering for {registration.method} ({exc!r})")


def shutdown(ls: KvcalServer, params: None) -> None:
    """Stop running calibrations at their next step, so that exit does not wait for them."""
    for stop in list(ls.running):
        stop.set()


@guarded("didOpen")
async def did_open(ls: KvcalServer, params: T.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    await ls.fetch_settings([uri])
    await ls.publish_diagnostics(uri)


@guarded("didChange")
def did_change(ls: KvcalServer, params: T.DidChangeTextDocumentParams) -> None:
    ls.schedule_diagnostics(params.text_document.uri)


@guarded("didClose")
def did_close(ls: KvcalServer, params: T.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)
    ls.clear_diagnostics(params.text_document.uri)


@guarded("didChangeConfiguration")
async def did_change_configuration(ls: KvcalServer, params: T.DidChangeConfigurationParams) -> None:
    await ls.fetch_settings([doc.uri for doc in ls.documents])
    await ls.refresh_views()


@guarded("didChangeWatchedFiles")
async def did_change_watched_files(ls: KvcalServer, params: T.DidChangeWatchedFilesParams) -> None:
    if any(change.uri.endswith(".proto") for change in params.changes):
        await ls.protos_changed()


@guarded("diagnostic", empty=lambda: T.RelatedFullDocumentDiagnosticReport(items=[]))
async def pull_diagnostics(
    ls: KvcalServer, params: T.DocumentDiagnosticParams
) -> T.RelatedFullDocumentDiagnosticReport:
    snap = await ls.snapshot(params.text_document.uri)
    items = diagnostics_for(ls, snap) if snap is not None else []
    return T.RelatedFullDocumentDiagnosticReport(items=items)


# -- features --------------------------------------------------------------------------------


@guarded("hover")
async def hover(ls: KvcalServer, params: T.HoverParams) -> T.Hover | None:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return None
    offset = offset_at(snap.index, params.position)
    found = hover_text(
        snap.analysis, snap.index, offset, locale=ls.client.locale, plans=snap.plans, results=results_of(ls, snap)
    )
    if found is None:
        return None
    kind = T.MarkupKind.Markdown if ls.client.markdown_hover else T.MarkupKind.PlainText
    return T.Hover(
        contents=T.MarkupContent(kind=kind, value=found.markdown), range=lsp_range(snap.index, found.start, found.end)
    )


@guarded("completion", empty=lambda: T.CompletionList(is_incomplete=False, items=[]))
async def completion(ls: KvcalServer, params: T.CompletionParams) -> T.CompletionList:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return T.CompletionList(is_incomplete=False, items=[])
    offset = offset_at(snap.index, params.position)
    header = header_completion(ls, snap, offset)
    if header is not None:
        return T.CompletionList(is_incomplete=False, items=header)
    items = completion_items(
        snap.analysis,
        snap.index,
        offset,
        layers=snap.samples.layers or (),
        snippets=ls.client.snippets,
        locale=ls.client.locale,
        markdown=ls.client.markdown_completion,
    )
    return T.CompletionList(is_incomplete=False, items=items)


@guarded("codeAction", empty=list)
async def code_action(ls: KvcalServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return []
    start, end = offsets_of(snap.index, params.range)
    fixes = actions.quick_fixes(snap.analysis, start, end)
    if (fmt := actions.format_fix(snap.analysis)) is not None:
        fixes.append(fmt)
    wanted = params.context.only
    out = []
    if (
        any(p.code == "schema" and p.start <= end and p.end >= start for p in snap.analysis.problems)
        and snap.analysis.schema is None
    ):
        out += _header_actions(ls, snap, wanted)
    for fix in fixes:
        if wanted and not any(fix.kind == k or fix.kind.startswith(f"{k}.") for k in wanted):
            continue
        edits = [lsp_text_edit(snap.index, s, e, t) for s, e, t in fix.edits]
        out.append(
            T.CodeAction(
                title=fix.title,
                kind=fix.kind,
                is_preferred=fix.preferred or None,
                diagnostics=lsp_diagnostics(snap.uri, snap.index, [fix.problem]) if fix.problem else None,
                edit=T.WorkspaceEdit(changes={snap.uri: edits}),
            )
        )
    return out


def _header_actions(ls: KvcalServer, snap: Snapshot, wanted: Sequence[str] | None) -> list[T.CodeAction]:
    """A header for each message of the workspace's .proto files (the note's own fixes offer
    the bundled AMCT schemas)."""
    if wanted and not any(
        T.CodeActionKind.QuickFix == k or T.CodeActionKind.QuickFix.startswith(f"{k}.") for k in wanted
    ):
        return []
    out = []
    for choice in schema_choices(ls, snap):
        if choice["kind"] != "proto":
            continue
        edits = [
            T.TextEdit(
                range=T.Range(start=T.Position(**e["range"]["start"]), end=T.Position(**e["range"]["end"])),
                new_text=e["newText"],
            )
            for e in choice["edit"]["changes"][snap.uri]
        ]
        out.append(
            T.CodeAction(
                title=f"Insert a schema header: {choice['description']}",
                kind=T.CodeActionKind.QuickFix,
                edit=T.WorkspaceEdit(changes={snap.uri: edits}),
            )
        )
    return out


@guarded("documentSymbol", empty=list)
async def document_symbol(ls: KvcalServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    snap = await ls.snapshot(params.text_document.uri)
    return [lsp_symbol(snap.index, s) for s in document_symbols(snap.analysis)] if snap else []


@guarded("foldingRange", empty=list)
async def folding_range(ls: KvcalServer, params: T.FoldingRangeParams) -> list[T.FoldingRange]:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return []
    return [r for f in folding_ranges(snap.analysis) if (r := lsp_folding_range(snap.index, f)) is not None]


@guarded("formatting", empty=list)
async def formatting(ls: KvcalServer, params: T.DocumentFormattingParams) -> list[T.TextEdit]:
    snap = await ls.snapshot(params.text_document.uri)
    formatted = _formatted(ls, snap, params.options)
    if snap is None or formatted is None or formatted == snap.text:
        return []
    return [lsp_text_edit(snap.index, 0, len(snap.text), formatted)]


@guarded("rangeFormatting", empty=list)
async def range_formatting(ls: KvcalServer, params: T.DocumentRangeFormattingParams) -> list[T.TextEdit]:
    """The whole document's formatting, keeping only the changed lines that touch the range."""
    snap = await ls.snapshot(params.text_document.uri)
    formatted = _formatted(ls, snap, params.options)
    if snap is None or formatted is None or formatted == snap.text:
        return []
    first, last = params.range.start.line, params.range.end.line
    if last > first and params.range.end.character == 0:
        last -= 1  # (a selection of whole lines ends at the start of the next one)
    old, new = snap.text.splitlines(keepends=True), formatted.splitlines(keepends=True)
    starts = [0]
    for line in old:
        starts.append(starts[-1] + len(line))
    edits = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op != "equal" and i1 <= last and max(i2 - 1, i1) >= first:
            edits.append(lsp_text_edit(snap.index, starts[i1], starts[i2], "".join(new[j1:j2])))
    return edits


def _formatted(ls: KvcalServer, snap: Snapshot | None, options: T.FormattingOptions) -> str | None:
    """The document formatted with the editor's indentation (tabs, or tab_size spaces); None
    (and the user told why) when it has syntax errors."""
    if snap is None:
        return None
    indent = " " * min(max(options.tab_size, 1), 16) if options.insert_spaces else "\t"
    try:
        return format_text(snap.analysis.parsed, indent)
    except FormatError as exc:
        ls.window_show_message(T.ShowMessageParams(type=T.MessageType.Warning, message=f"kvcal: not formatted: {exc}"))
        return None


@guarded("definition", empty=list)
async def definition(ls: KvcalServer, params: T.DefinitionParams) -> list[T.Location]:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return []
    offset = offset_at(snap.index, params.position)
    refs = layer_definitions(snap.analysis, offset)
    if refs:
        return [lsp_location(snap.uri, snap.index, r.start, r.end) for r in refs]
    return schema_definition(snap, offset)


def schema_definition(snap: Snapshot, offset: int) -> list[T.Location]:
    """From a field, enum value or Any payload in the document to its declaration in the .proto."""
    schema = snap.analysis.schema
    name = declaration_name(snap.analysis, offset)
    decl = schema.declaration(name) if schema is not None and name else None
    if decl is None or decl.file is None:
        target = _header_proto_at(snap, offset)
        if target is None:
            return []
        start = T.Position(line=0, character=0)
        return [T.Location(uri=target.as_uri(), range=T.Range(start=start, end=start))]
    rng = T.Range(
        start=T.Position(line=decl.line, character=decl.column),
        end=T.Position(line=decl.end_line, character=decl.end_column),
    )
    return [T.Location(uri=decl.file.resolve().as_uri(), range=rng)]


def _header_proto_at(snap: Snapshot, offset: int) -> Path | None:
    """The .proto a ``# proto-file:`` or ``# proto-import:`` line at *offset* names."""
    resolution = snap.analysis.resolution
    header, protos = resolution.header, resolution.protos
    if header is None or not protos:
        return None
    if header.file is not None and header.file.line_start <= offset <= header.file.end:
        return protos[0]
    for imp in header.imports:
        if imp.line_start <= offset <= imp.end:
            written = PurePath(imp.value.strip("\"'"))
            return next((p for p in protos[1:] if p.parts[-len(written.parts) :] == written.parts), None)
    return None


@guarded("references", empty=list)
async def references(ls: KvcalServer, params: T.ReferenceParams) -> list[T.Location]:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return []
    refs = layer_references(
        snap.analysis, offset_at(snap.index, params.position), include_self=params.context.include_declaration
    )
    return [lsp_location(snap.uri, snap.index, r.start, r.end) for r in refs]


@guarded("semanticTokens", empty=lambda: T.SemanticTokens(data=[]))
async def semantic_tokens(ls: KvcalServer, params: T.SemanticTokensParams) -> T.SemanticTokens:
    snap = await ls.snapshot(params.text_document.uri)
    return lsp_semantic_tokens(snap.index, tokens(snap.analysis)) if snap else T.SemanticTokens(data=[])


@guarded("inlayHint", empty=list)
async def inlay_hint(ls: KvcalServer, params: T.InlayHintParams) -> list[T.InlayHint]:
    snap = await ls.snapshot(params.text_document.uri)
    if snap is None:
        return []
    start, end = offsets_of(snap.index, params.range)
    return inlay_hints(
        snap.analysis, snap.index, start, end, defaults=snap.settings.inlay_hints, results=results_of(ls, snap)
    )


@guarded("codeLens", empty=list)
async def code_lens(ls: KvcalServer, params: T.CodeLensParams) -> list[T.CodeLens]:
    snap = await ls.snapshot(params.text_document.uri)
    return code_lenses(snap.analysis, snap.index, snap.uri, snap.plans) if snap else []


async def calibrate(ls: KvcalServer, params: T.ExecuteCommandParams) -> dict[str, Any]:
    try:
        return await calibrate_command(ls, params)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        ls.log_failure("kvcal.calibrate")
        message = f"kvcal: calibration failed unexpectedly: {exc}"
        ls.window_show_message(T.ShowMessageParams(type=T.MessageType.Error, message=message))
        return {"markdown": message, "errors": [message], "layers": [], "record": None, "report": None}


async def _command_snapshot(ls: KvcalServer, params: T.ExecuteCommandParams, command: str) -> Snapshot | None:
    uri = uri_argument(params.arguments)
    if uri is None:
        raise JsonRpcInvalidParams(f"{command} takes a document URI as its argument")
    return await ls.snapshot(uri)


async def document_info(ls: KvcalServer, params: T.ExecuteCommandParams) -> dict[str, Any] | None:
    """``kvcal.documentInfo [uri]``: what the server resolved for a document — its schema and
    why, its sample data (the ``# kvcal: data=`` header or the setting, as the server read it)
    — for the client's status bar; None for a document the server does not serve."""
    snap = await _command_snapshot(ls, params, "kvcal.documentInfo")
    if snap is None:
        return None
    info = schema_summary(snap.analysis)
    samples = snap.samples
    info["sampleData"] = (
        None
        if samples.path is None and samples.error is None
        else {
            "path": str(samples.path) if samples.path is not None else None,
            "origin": samples.origin,
            "layers": len(samples.layers) if samples.layers is not None else None,
            "error": samples.error,
        }
    )
    return info


async def schema_choice_list(ls: KvcalServer, params: T.ExecuteCommandParams) -> list[dict[str, Any]] | None:
    """``kvcal.schemaChoices [uri]``: the schemas ``kvcal: Select Schema…`` offers (the bundled
    AMCT configs, the messages of the workspace's .proto files), each with the edit that
    writes its header into the document."""
    snap = await _command_snapshot(ls, params, "kvcal.schemaChoices")
    return schema_choices(ls, snap) if snap is not None else None


def sync_state(ls: KvcalServer, params: T.ExecuteCommandParams) -> dict[str, Any] | None:
    """``kvcal.syncState [uri]``: the server's version and a hash of its text of a document,
    for a client (or a test) to check that incremental sync kept both sides equal."""
    uri = uri_argument(params.arguments)
    if uri is None:
        raise JsonRpcInvalidParams("kvcal.syncState takes a document URI as its argument")
    doc = ls.documents.get(uri)
    if doc is None:
        return None  # not open (or not a quant config)
    digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
    return {"uri": doc.uri, "version": doc.version, "length": len(doc.text), "sha256": digest}


FEATURES: list[tuple[str, Any, Callable[..., Any]]] = [
    (T.INITIALIZE, None, initialize),
    (T.INITIALIZED, None, initialized),
    (T.SHUTDOWN, None, shutdown),
    (T.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (T.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (T.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (T.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
    (T.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, did_change_watched_files),
    (
        T.TEXT_DOCUMENT_DIAGNOSTIC,
        T.DiagnosticOptions(identifier="kvcal", inter_file_dependencies=False, workspace_diagnostics=False),
        pull_diagnostics,
    ),
    (T.TEXT_DOCUMENT_HOVER, None, hover),
    (T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[":", "'", '"']), completion),
    (
        T.TEXT_DOCUMENT_CODE_ACTION,
        T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix, T.CodeActionKind.Source, actions.FORMAT]),
        code_action,
    ),
    (T.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, document_symbol),
    (T.TEXT_DOCUMENT_FOLDING_RANGE, None, folding_range),
    (T.TEXT_DOCUMENT_FORMATTING, None, formatting),
    (T.TEXT_DOCUMENT_RANGE_FORMATTING, None, range_formatting),
    (T.TEXT_DOCUMENT_DEFINITION, None, definition),
    (T.TEXT_DOCUMENT_REFERENCES, None, references),
    (
        T.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
        T.SemanticTokensLegend(token_types=list(TOKEN_TYPES), token_modifiers=list(TOKEN_MODIFIERS)),
        semantic_tokens,
    ),
    (T.TEXT_DOCUMENT_INLAY_HINT, None, inlay_hint),
    (T.TEXT_DOCUMENT_CODE_LENS, None, code_lens),
]
COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    (CALIBRATE_COMMAND, calibrate),
    ("kvcal.syncState", sync_state),
    ("kvcal.documentInfo", document_info),
    ("kvcal.schemaChoices", schema_choice_list),
]


def register(ls: KvcalServer) -> KvcalServer:
    for method, options, handler in FEATURES:
        ls.feature(method, options)(handler)
    for name, handler in COMMANDS:
        ls.command(name)(handler)
    return ls


__all__ = ["Outcome", "diagnostics_for", "register"]
