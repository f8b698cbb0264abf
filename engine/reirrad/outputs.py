"""A run's outputs — HTML report, result JSON, audit-CSV row — checked first, committed together.

**Checked before any work** (:func:`check_outputs`): each requested path must name a file (not ``''``,
not a directory, a device, a FIFO or a socket), in a folder that exists and can be written, replacing
only a file that can be written, and no path may be an input of the run or another output of it (the
same file reached through another spelling, a symbolic or a hard link counts). A refused path is
bad input: exit 2, before anything is read from the TPS.

**One transaction** (:func:`stage_record`, then :meth:`StagedRecord.commit`):

1. the audit CSV's lock is taken (:func:`reirrad.files.exclusive_lock`); a stale lock of a dead writer
   on this host is broken, and the run's result gets a ``flag`` finding ``stale-audit-lock-broken``;
2. every output is rendered from the outcome and written to a temporary file beside its target (the
   audit CSV as its whole new text: the existing rows and this run's row);
3. :meth:`StagedRecord.commit` renames them into place — report, JSON, then the audit CSV — and releases
   the lock. A rename that fails puts back what the earlier renames replaced (from a hard-link backup
   where the file system has hard links) and removes what they created.

Any failure before the commit removes every temporary file and releases the lock: no output and no audit
row. The Eclipse host stages before ``SaveModifications`` and commits after it; a failed save discards
the staged record (:meth:`StagedRecord.abort`). A stopped run (no plan) has a JSON only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import tempfile
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple, Type, Union

from .audit import audit_csv_text, audit_record
from .errors import InputError, OutputError
from .files import exclusive_lock, forget_pending, stage_text, write_text_atomic
from .findings import Finding
from .outcome import RunOutcome
from .report import render_report

__all__ = ["AUDIT_PRIOR_COURSES", "OutputRequest", "StagedRecord", "check_output_folder", "check_outputs",
           "free_name", "report_in_folder", "result_json", "stage_record", "write_result_json"]

#: Prior-course column groups in every audit row (a patient with more gets a clear refusal): rows of
#: one protocol share one header (:func:`reirrad.audit.append_audit_csv`).
AUDIT_PRIOR_COURSES = 3

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class OutputRequest:
    """Where a run's outputs go (None: not written): the HTML report, the audit CSV, the result JSON,
    and a second copy of the result JSON (``json_copy``: ``reirrad plan --json F --out DIR`` writes
    ``DIR/result.json`` too, in the same transaction); ``report_new``: the report never replaces a file
    (:meth:`StagedRecord.commit`)."""

    report: Optional[str] = None
    audit_csv: Optional[str] = None
    json: Optional[str] = None
    json_copy: Optional[str] = None
    #: The report is a new file (:func:`report_in_folder`): committed without replacing a file of that
    #: name that appeared meanwhile (another run's), under the next free numbered name instead.
    report_new: bool = False

    def named(self) -> List[Tuple[str, str]]:
        """(option, path) of each requested output, in commit order."""
        pairs = (("--report", self.report), ("--json", self.json), ("--out", self.json_copy),
                 ("--audit-csv", self.audit_csv))
        return [(option, path) for option, path in pairs if path is not None]


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _which_of(path: Path, files: Sequence[Optional[PathLike]]) -> Optional[PathLike]:
    """The one of ``files`` that ``path`` is (the same file, by any spelling or link), or None."""
    for source in files:
        if source is not None and Path(source).exists() and _same_file(path, Path(source)):
            return source
    return None


def _check_one(option: str, value: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{option} {value!r} names no file: give a file name, or leave {option} out")
    path = Path(value)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputError(f"{option} {value}: cannot be checked ({exc.strerror or exc}); give another "
                         "path") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise InputError(f"{option} {value} is a directory: give a file name inside it, e.g. "
                             f"{path / ('result.json' if option == '--json' else 'report.html')}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{option} {value} is not a regular file (a device, FIFO or socket); reirrad "
                             "writes its outputs only to ordinary files: give a file path")
        try:  # opened for appending, nothing written: no truncation, no change of its time stamps
            os.close(os.open(str(path), os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise InputError(f"{option} {value} exists and cannot be written ({exc.strerror or exc}); give "
                             "another path or make it writable") from None
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{option} {value}: directory {folder} does not exist; create it first (reirrad "
                         "never creates folders: a mistyped path must not create one)")
    try:  # the outputs are renamed into place from a temporary file in this folder: try one
        fd, probe = tempfile.mkstemp(prefix=".reirrad-probe-", suffix=".tmp", dir=str(folder))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{option} {value}: directory {folder} cannot be written ({exc.strerror or exc}); "
                         "give another folder") from None
    return path


def check_outputs(request: OutputRequest, *, inputs: Sequence[PathLike] = ()) -> OutputRequest:
    """Refuse output paths that cannot be written or would destroy something (module docstring).

    Parameters
    ----------
    request : OutputRequest
    inputs : sequence of path-like
        The files the run reads (case file, protocol, answers file, DICOM files): no output may be one.

    Returns
    -------
    OutputRequest
        ``request`` unchanged.

    Raises
    ------
    reirrad.errors.InputError
        Naming the option, the path and the fix.
    """
    checked: List[Tuple[str, Path]] = []
    for option, value in request.named():
        path = _check_one(option, value)
        for other_option, other in checked:
            if _same_file(path, other):
                raise InputError(f"{option} {value} and {other_option} {other} name the same file: one "
                                 "would replace the other; give each output its own file")
        source = _which_of(path, inputs)
        if source is not None:
            raise InputError(f"{option} {value} is an input of this run ({source}): writing it would "
                             "replace the input; give another output path")
        checked.append((option, path))
    return request


def check_output_folder(option: str, value: str, names: Pattern[str], *, inputs: Sequence[PathLike] = (),
                        outputs: Optional[OutputRequest] = None) -> Path:
    """Refuse a folder that a run's named files (matching ``names``) cannot safely be written into.

    The folder must exist (reirrad never creates folders: a mistyped path must not create one) and be
    writable; every entry in it whose name matches ``names`` must be a regular file that is not an
    input of the run nor another of its outputs (it will be replaced), and no other output may be
    given such a name in it. Checked before any work, as :func:`check_outputs`.

    Parameters
    ----------
    option, value : str
        The option and the folder given, for messages.
    names : re.Pattern
        The names the run writes into the folder (full match).
    inputs : sequence of path-like
        The files the run reads.
    outputs : OutputRequest, optional
        The run's other outputs.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    reirrad.errors.InputError
        Naming the option, the path and the fix.
    """
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{option} {value!r} names no folder: give a folder, or leave {option} out")
    folder = Path(value)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {value} is a file, not a folder: give a folder for the files it writes")
    if not folder.is_dir():
        raise InputError(f"{option} {value}: folder does not exist; create it first (reirrad never creates "
                         "folders: a mistyped path must not create one)")
    _check_one(option, str(folder / ".reirrad-folder-check"))  # writable (a probe file, removed)
    named = outputs.named() if outputs is not None else []
    others = [Path(path) for _, path in named]
    for other_option, other in named:
        if names.fullmatch(Path(other).name) and _same_file(Path(other).parent, folder):
            raise InputError(f"{other_option} {other} has the name of a file {option} writes into {value}: "
                             "one would replace the other; give it another name or folder")
    _check_named_entries(option, value, folder, names, [*inputs, *others])
    return folder


#: Characters kept from an ID in a report's file name (:func:`report_in_folder`); any other becomes "_".
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

#: Longest ID part of a report's file name, characters (the rest is cut: Windows paths stay short).
_NAME_PART_MAX = 48

#: Names tried for a new file before giving up (:func:`free_name`): the name and 99 numbered ones.
_NAME_TRIES = 100


def _name_part(text: str) -> str:
    """``text`` made safe for a file name on Windows and POSIX: runs of other characters become one "_",
    no leading dot (no hidden file, no ``..``), cut to :data:`_NAME_PART_MAX` characters."""
    safe = _NAME_UNSAFE.sub("_", text.strip()).lstrip(".")[:_NAME_PART_MAX]
    return safe or "_"


def report_in_folder(option: str, folder: str, patient_id: str, plan_id: str, when: dt.datetime) -> str:
    """A new report file's path in ``folder`` for one run, never an existing file's.

    A deployment names one folder for every run's report (an answers file's ``report_dir``, e.g. in
    the Eclipse host's INI or RayStation's ``REIRRAD_ANSWERS``); each run gets a file of its own:
    ``reirrad_<patient>_<plan>_<YYYYMMDD>T<HHMMSS>Z.html`` (the run's start in UTC), the IDs with every
    character but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_`` (a Windows file name cannot
    hold ``\\ / : * ? " < > |``) and cut to 48 characters; ``-2``, ``-3`` … before ``.html`` when the
    name is taken. The IDs in the name are for finding the file: the report itself names the patient
    and plan exactly. Checked by :func:`check_outputs` like any ``--report``.

    Parameters
    ----------
    option : str
        Where the folder was given (for messages), e.g. ``"answers file a.yaml: report_dir"``.
    folder : str
        The folder; it must exist (reirrad never creates folders).
    patient_id, plan_id : str
        The run's patient and new plan.
    when : datetime.datetime
        The run's start, timezone-aware (converted to UTC).

    Returns
    -------
    str
        The report's path.

    Raises
    ------
    reirrad.errors.InputError
        The folder is empty text, missing or a file; or every name tried is taken.
    """
    if not isinstance(folder, str) or not folder.strip():
        raise InputError(f"{option} {folder!r} names no folder: give the folder for the reports, or leave "
                         "it out")
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {folder} is a file, not a folder: give the folder each run's report is "
                         "written into (report names one file)")
    if not path.is_dir():
        raise InputError(f"{option} {folder}: folder does not exist; create it first (reirrad never creates "
                         "folders: a mistyped path must not create one)")
    if when.tzinfo is None:
        raise ValueError("report_in_folder needs a timezone-aware time")
    stamp = when.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stem = f"reirrad_{_name_part(patient_id)}_{_name_part(plan_id)}_{stamp}"
    free = free_name(path / f"{stem}.html")
    if free is not None:
        return str(free)
    raise InputError(f"{option} {folder}: {stem}.html and {_NAME_TRIES - 1} numbered names are taken; "
                     "clear the folder of old copies or give another folder")


#: A report_dir name's numbered form (:func:`report_in_folder`): the stem, then "-<number>" (2 and on).
_NUMBERED = re.compile(r"(.*_\d{8}T\d{6}Z)-([1-9]\d*)", re.ASCII)


def _numbered(first: Path) -> List[Path]:
    """``first``, then the numbered names after it: ``<stem>-2<suffix>`` … ``-<_NAME_TRIES>``, counting on
    from ``first``'s own number when it is a :func:`report_in_folder` name numbered so (``…Z-2.html``)."""
    stem, number = first.stem, 1
    match = _NUMBERED.fullmatch(stem)
    if match:
        stem, number = match.group(1), int(match.group(2))
    later = [first.with_name(f"{stem}-{k}{first.suffix}") for k in range(max(number + 1, 2), _NAME_TRIES + 1)]
    return [first, *later]


def free_name(first: Path) -> Optional[Path]:
    """The first of ``first`` and its numbered names (``<stem>-2<suffix>``, ``-3`` …; :func:`_numbered`)
    that nothing is called yet, or None when all :data:`_NAME_TRIES` are taken. A file made under that
    name after the check is not seen: a writer that must never replace one commits as :func:`_put_new`."""
    return next((candidate for candidate in _numbered(first) if not os.path.lexists(candidate)), None)


def _put_new(tmp: str, target: Path) -> Path:
    """Move ``tmp`` to ``target``, or to its next free numbered name (:func:`_numbered`), never replacing a
    file; return where it went. A hard link then the temporary name's removal (both atomic: the link fails
    when the name exists); on Windows a rename, which fails when the name exists. On a POSIX file
    system without hard links: a rename after a check (a file made between the two would be replaced).

    Raises
    ------
    OSError
        No name free, or the move failed.
    """
    for candidate in _numbered(target):
        try:
            if os.name == "nt":
                os.rename(tmp, candidate)
                return candidate
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system
                if os.path.lexists(candidate):
                    continue
                os.rename(tmp, candidate)
                return candidate
        except FileExistsError:
            continue
        try:
            os.unlink(tmp)
        except OSError:  # the report would stay under two names, one of them temporary: neither stays
            with suppress(OSError):
                os.unlink(candidate)
            raise
        return candidate
    raise FileExistsError(f"{target} and its numbered names are all taken")


def _check_named_entries(option: str, value: str, folder: Path, names: Pattern[str],
                         files: Sequence[PathLike]) -> None:
    """Each entry of ``folder`` named like ``names``: a regular file, none of ``files`` (the run's)."""
    for entry in sorted(folder.iterdir()):
        if not names.fullmatch(entry.name):
            continue
        if not entry.is_file() or entry.is_symlink():
            raise InputError(f"{option} {value}: {entry.name} is in the way (not a regular file); reirrad "
                             "would write a file of that name there: remove it or give another folder")
        source = _which_of(entry, files)
        if source is not None:
            raise InputError(f"{option} {value}: {entry.name} is {source}, a file of this run; it would "
                             "be replaced: give another folder")


def result_json(payload: Mapping[str, Any]) -> str:
    """The text of a result JSON file (2-space indent, keys in the result's order, UTF-8 with \\n)."""
    return json.dumps(dict(payload), indent=2, sort_keys=False) + "\n"


def write_result_json(path: Optional[PathLike], payload: Mapping[str, Any]) -> None:
    """Write a result JSON on its own (atomic replace); nothing when ``path`` is None.

    For what is not a run's record: a stopped or failed launcher's result, the stand-in listings.
    """
    if path is not None:
        write_text_atomic(Path(path), result_json(payload))


class StagedRecord:
    """A run's outputs written to temporary files and not yet renamed into place (module docstring).

    Use as a context manager: leaving the block without :meth:`commit` aborts (removes every temporary
    file, releases the audit lock).
    """

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._staged: List[Tuple[str, Path]] = []
        self._new: List[Path] = []  # targets that must not replace a file (OutputRequest.report_new)
        self._adopted = 0  # files adopted so far: the first entries of _staged
        self._done = False

    def _stage(self, target: Path, text: str, *, new: bool = False) -> None:
        self._staged.append((stage_text(target, text), target))
        if new:
            self._new.append(target)

    def adopt(self, staged: str, target: PathLike) -> None:
        """Commit a file the caller staged (:func:`reirrad.files.stage_file`, beside ``target``) with
        this record: renamed into place before the record's own outputs, in the order adopted, and
        removed by an abort like them (the maps of ``reirrad evaluate --write-maps``)."""
        if self._done:
            raise OutputError("this record was already committed or aborted")
        self._staged.insert(self._adopted, (staged, Path(target)))
        self._adopted += 1

    @property
    def targets(self) -> Tuple[Path, ...]:
        """The files the commit will write, in order."""
        return tuple(target for _, target in self._staged)

    def commit(self) -> Tuple[Path, ...]:
        """Rename every staged file into place and release the lock; return the files written.

        Raises
        ------
        reirrad.errors.OutputError
            A rename failed: what the earlier renames did is undone (module docstring), nothing stays.
        """
        if self._done:
            raise OutputError("this record was already committed or aborted")
        backups: List[Tuple[Path, Optional[str]]] = []
        try:
            for position, (tmp, target) in enumerate(self._staged):
                if target in self._new:  # a new file: never replaces one (another run's, made meanwhile)
                    backups.append((target, None))
                    placed = _put_new(tmp, target)
                    backups[-1] = (placed, None)
                    self._staged[position] = (tmp, placed)
                else:
                    backups.append((target, _backup(target)))
                    os.replace(tmp, target)
                forget_pending(tmp)
        except OSError as exc:
            _restore(backups)
            self.abort()
            raise OutputError(f"the run's outputs could not be put in place ({exc}); none was kept") from exc
        finally:
            for _, backup in backups:
                if backup is not None:
                    forget_pending(backup)
                    with suppress(OSError):
                        os.unlink(backup)
        self._done = True
        self._stack.close()
        return self.targets

    def abort(self) -> None:
        """Remove every staged file and release the lock (nothing written; safe to call twice)."""
        for tmp, _ in self._staged:
            forget_pending(tmp)
            with suppress(OSError):
                os.unlink(tmp)
        self._done = True
        self._stack.close()

    def __enter__(self) -> StagedRecord:
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if not self._done:
            self.abort()


def _backup(target: Path) -> Optional[str]:
    """A hard link to the file a rename is about to replace (None: nothing to keep, or no hard links)."""
    if not target.is_file():
        return None
    backup = str(target.with_name(f".{target.name}.{os.getpid()}.bak"))
    with suppress(OSError):
        os.unlink(backup)
    try:
        os.link(str(target), backup)
    except OSError:
        return None
    return backup


def _restore(backups: Sequence[Tuple[Path, Optional[str]]]) -> None:
    """Undo the renames already done: put each replaced file back, remove each created one."""
    for target, backup in reversed(backups[:-1] if backups else ()):
        with suppress(OSError):
            if backup is not None:
                os.replace(backup, target)
            else:
                os.unlink(target)


def stage_record(outcome: RunOutcome, request: OutputRequest, *,
                 json_extra: Optional[Mapping[str, Any]] = None,
                 report_options: Optional[Mapping[str, Any]] = None) -> Tuple[RunOutcome, StagedRecord]:
    """Stage every requested output of ``outcome`` (module docstring, steps 1–2).

    Parameters
    ----------
    outcome : RunOutcome
    request : OutputRequest
        Checked by :func:`check_outputs` when the run started.
    json_extra : mapping, optional
        Keys the JSON holds besides the outcome's result (after step 1), e.g. the TPS session's.
    report_options : mapping, optional
        Keyword arguments of :func:`reirrad.report.render_report` (``plots``, ``generated_at``).

    Returns
    -------
    (RunOutcome, StagedRecord)
        The outcome (with the stale-lock finding when one was broken) and its staged record.

    Raises
    ------
    reirrad.errors.InputError
        The outputs refuse this run: the audit CSV's header belongs to other runs, another writer held
        its lock past the timeout, a folder vanished since the check; nothing was written (exit 2).
    reirrad.errors.OutputError
        An output could not be written (no space, an I/O error); nothing was written (exit 1).
    """
    staged = StagedRecord()
    try:
        run = outcome.run
        if request.audit_csv and run is not None:
            held = staged._stack.enter_context(exclusive_lock(Path(request.audit_csv)))
            if held.broke_stale is not None:
                outcome = _with_warning(outcome, Finding(
                    "stale-audit-lock-broken", "flag",
                    f"the audit CSV's lock {held.path} was left by a writer that no longer runs "
                    f"({held.broke_stale}); it was removed. Check that the CSV's last rows are whole",
                    subject=str(request.audit_csv)))
        if request.report and run is not None:
            staged._stage(Path(request.report), render_report(outcome, **dict(report_options or {})),
                          new=request.report_new)
        payload = {**outcome.result, **dict(json_extra or {})}
        for copy in (request.json, request.json_copy):
            if copy:
                staged._stage(Path(copy), result_json(payload))
        if request.audit_csv and run is not None:
            n_priors = max(AUDIT_PRIOR_COURSES, len(run.prepared.snapshot.prior_courses))
            record = audit_record(outcome.result, oar_keys=run.prepared.protocol.oar_keys,
                                  n_prior_courses=n_priors)
            staged._stage(Path(request.audit_csv), audit_csv_text(request.audit_csv, record))
    except BaseException as exc:
        staged.abort()
        status = outcome.result.get("status")
        if isinstance(exc, InputError):  # the outputs refuse this run (another CSV's header, a held lock)
            raise InputError(f"the run's outputs cannot take this run ({exc}); nothing was written. The run "
                             f"had status {status!r}: give other output paths and run again") from exc
        if isinstance(exc, OSError):
            raise OutputError(f"the run's outputs could not be written ({exc}); nothing was written. The "
                              f"run had status {status!r}: fix the folder and run again") from exc
        raise
    return outcome, staged


def _with_warning(outcome: RunOutcome, finding: Finding) -> RunOutcome:
    warnings: List[Dict[str, Any]] = [dict(w) for w in outcome.result.get("warnings") or []]
    warnings.append(finding.to_dict())
    return outcome.with_result(warnings=warnings)

