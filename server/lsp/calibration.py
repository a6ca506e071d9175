"""The ``kvcal.calibrate`` command: run the config's effective plans on its sample data in
a worker thread, with work-done progress per layer and cancellation, write the record
and the report, and show the results where the config is.

The engine (torch) is imported by :mod:`kvcal.server.lsp.worker` only when a calibration
runs. Result shape (documented in docs/lsp.md)::

    {"markdown": str, "record": path, "report": dir, "errors": [str],
     "layers": [{"layer", "algorithm", "granularity", "symmetric", "scale": [...],
                 "offset": [...], "clip_min", "clip_max", "sqnr_db", "mse", "histogram"}]}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from kvcal.grammar.files import FileRefused, check_output, check_report_dir, read_regular
from kvcal.grammar.problems import excerpt, quoted
from kvcal.server.lsp import worker
from kvcal.server.lsp.outcome import Issue, LayerOutcome, Outcome, summary
from kvcal.server.lsp.settings import Settings
from kvcal.server.lsp.snapshot import Snapshot, fs_path
from kvcal.server.lsp.worker import Job

if TYPE_CHECKING:  # (an annotation: the server's handlers call in here)
    from kvcal.server.lsp.server import KvcalServer

# One calibration at a time; a cancelled one finishes its current step before the next starts.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kvcal-calibrate")


class Refused(Exception):
    """The calibration cannot start or failed: the message says why and what to do."""

    def __init__(self, message: str, layer: str | None = None, *, diagnostic: bool = True) -> None:
        super().__init__(message)
        self.layer = layer
        self.diagnostic = diagnostic  # False when the config's own diagnostics already say it


def uri_argument(arguments: Sequence[Any] | None) -> str | None:
    """The config's URI: ``[uri]``, ``[{"uri": ...}]`` or ``[{"external": ...}]``; an
    absolute file path is taken as its ``file:`` URI."""
    first = (arguments or [None])[0]
    if isinstance(first, dict):
        first = first.get("uri") or first.get("external")
    if not isinstance(first, str) or not first:
        return None
    if ":" not in first.split("/", 1)[0] and Path(first).is_absolute():
        return Path(first).as_uri()
    return first


def layers_argument(arguments: Sequence[Any] | None) -> tuple[str, ...] | None:
    """The layers to calibrate (``[uri, {"layers": [...]}]``), None for all of them."""
    second = arguments[1] if arguments and len(arguments) > 1 else None
    if isinstance(second, dict) and isinstance(second.get("layers"), list):
        return tuple(str(name) for name in second["layers"])
    return None


async def calibrate_command(ls: KvcalServer, params: types.ExecuteCommandParams) -> dict[str, Any]:
    uri = uri_argument(params.arguments)
    if uri is None:
        got = json_preview(params.arguments)
        return await _refused(
            ls,
            None,
            Refused(f"kvcal.calibrate takes the config's URI as its first argument (file:///…/quant.cfg), got {got}"),
        )
    snap = await _snapshot(ls, uri)
    try:
        job = prepare(ls, snap, uri, layers_argument(params.arguments))
    except Refused as exc:
        return await _refused(ls, snap, exc)
    progress = _Progress(ls, params.work_done_token)
    await progress.begin(f"kvcal: calibrating {job.label}", len(job.plans))
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    ls.running.add(stop)

    def on_layer(layer: str, index: int, total: int) -> None:
        loop.call_soon_threadsafe(progress.report, layer, index, total)

    def cancelled() -> bool:
        return stop.is_set() or progress.cancelled()

    try:
        result = await loop.run_in_executor(_EXECUTOR, lambda: worker.run(job, progress=on_layer, cancel=cancelled))
    except asyncio.CancelledError:  # $/cancelRequest, or shutdown
        stop.set()
        progress.end("cancelled")
        raise
    except worker.Cancelled:  # window/workDoneProgress/cancel
        progress.end("cancelled")
        raise asyncio.CancelledError() from None
    except worker.Failed as exc:
        progress.end("failed")
        return await _refused(ls, snap, Refused(str(exc), exc.layer))
    finally:
        ls.running.discard(stop)
    progress.end(f"{len(result['layers'])} layers calibrated")
    plans = {p.layer_name: p for p in job.plans}
    earlier = ls.outcomes.get(uri)
    kept = dict(earlier.layers) if earlier is not None and job.subset else {}  # other layers' results stay
    kept.update(
        {
            row["layer"]: LayerOutcome(plans[row["layer"]], summary(row))
            for row in result["layers"]
            if row["layer"] in plans
        }
    )
    ls.outcomes[uri] = Outcome(kept, plans=tuple(snap.plans) if snap is not None else job.plans)
    await ls.refresh_views()
    return result


async def _snapshot(ls: KvcalServer, uri: str) -> Snapshot | None:
    """The open document, or the file on disk when it is not open."""
    if uri not in ls.settings:
        await ls.fetch_settings([uri])
    if ls.documents.get(uri) is not None:
        return await ls.snapshot(uri)
    path = fs_path(uri)
    if path is None:
        return None
    try:  # a regular file of a config's size only: a FIFO or a device named by the URI is never read
        text = read_regular(path).decode("utf-8", errors="replace")
    except OSError:
        return None
    settings = ls.settings.get(uri, Settings())
    return await asyncio.get_running_loop().run_in_executor(None, ls.analyse, uri, None, text, settings)


def json_preview(value: Any, limit: int = 80) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prepare(ls: KvcalServer, snap: Snapshot | None, uri: str = "", layers: tuple[str, ...] | None = None) -> Job:
    """Everything a calibration needs, or a :class:`Refused` saying what is missing.
    *layers*: only these of the config's layers (a code lens above one algorithm block)."""
    if snap is None:
        raise Refused(
            f"{uri} is not open in the editor and not a readable file: kvcal.calibrate takes "
            "the URI of a saved or open config"
        )
    path = snap.path
    label = path.name if path else snap.uri.rsplit("/", 1)[-1]
    if snap.analysis.family != "kv":
        schema = snap.analysis.schema
        what = schema.shown if schema is not None else "a file with no schema"
        raise Refused(
            f"{label} is {what}: calibration runs AMCT's KV-cache algorithms on KV-cache configs "
            "(AMCTQuantCaliConfig) only"
        )
    errors = [p for p in snap.analysis.problems if p.is_error]
    if errors:
        line = snap.index.position(errors[0].start)[0] + 1
        raise Refused(
            f"{label} has {len(errors)} error(s) (first on line {line}: {errors[0].message}); "
            "AMCT would reject it: fix them first",
            diagnostic=False,
        )
    if not snap.plans:
        raise Refused(f"{label} quantizes no layer: add quant_layers or an override")
    samples = snap.samples
    if samples.path is None:
        raise Refused(
            "no sample data: add a '# kvcal: data=PATH.safetensors' line at the top of the config "
            "or set kvcal.sampleData"
        )
    if samples.error:
        raise Refused(f"sample data: {samples.error}")
    settings = snap.settings
    if settings.record_file:
        record = Path(settings.record_file).expanduser()
        if not record.is_absolute():
            record = (ls.root_for(snap.uri) or (path.parent if path else Path.cwd())) / record
    elif path is not None:
        record = path.with_name(f"{path.stem}.record.txt")
    else:
        raise Refused("the config is not saved: save it, or set kvcal.recordFile")
    report = record.with_name(f"{path.stem if path else record.stem}.report")
    try:  # outputs: refused before a minute of calibration when they cannot be written
        check_output(record)
        check_report_dir(report)
    except FileRefused as exc:
        raise Refused(f"{exc} (nothing was calibrated or written)") from None
    except OSError:
        pass  # (an unwritable folder: the write says so)
    plans = tuple(snap.plans)
    if layers is not None:
        unknown = sorted(set(layers) - {p.layer_name for p in plans})
        if unknown:
            raise Refused(
                f"{label} does not quantize {', '.join(quoted(n) for n in unknown)}: the config changed "
                "since the command was offered; run it again"
            )
        plans = tuple(p for p in plans if p.layer_name in layers)
    return Job(snap.uri, label, plans, samples.path, record, report, subset=layers is not None)


async def _refused(ls: KvcalServer, snap: Snapshot | None, exc: Refused) -> dict[str, Any]:
    message = f"kvcal: calibration not done: {exc}"
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))
    if snap is not None and exc.diagnostic:
        ls.outcomes[snap.uri] = Outcome(issues=[Issue(str(exc), exc.layer)], plans=tuple(snap.plans))
        await ls.refresh_views()
    return {
        "markdown": f"**Calibration not done**: {exc}",
        "errors": [str(exc)],
        "layers": [],
        "record": None,
        "report": None,
    }


class _Progress:
    """Work-done progress on the client's token, or on one the server creates; cancellable."""

    def __init__(self, ls: KvcalServer, token: types.ProgressToken | None) -> None:
        self.ls = ls
        self.token = token
        self._future: concurrent.futures.Future[Any] | None = None

    async def begin(self, title: str, total: int) -> None:
        if self.token is None and self.ls.client.work_done_progress:
            token = f"kvcal-calibrate-{uuid.uuid4()}"
            try:
                await self.ls.work_done_progress.create_async(token)
                self.token = token
            except Exception:
                self.token = None
        if self.token is None:
            return
        self.ls.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=title, cancellable=True, message=f"0/{total} layers", percentage=0),
        )
        self._future = self.ls.work_done_progress.tokens.get(self.token)

    def report(self, layer: str, index: int, total: int) -> None:
        if self.token is not None:
            pct = int(100 * index / total) if total else 100
            self.ls.work_done_progress.report(
                self.token,
                types.WorkDoneProgressReport(
                    message=f"{index}/{total} layers: {excerpt(layer)}", percentage=pct, cancellable=True
                ),
            )

    def cancelled(self) -> bool:
        return self._future is not None and self._future.cancelled()

    def end(self, message: str) -> None:
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(self.token, None)
            self.token = None
