"""Cases, groups and verdicts: how a hidden check's record is judged (trusted side).

A hidden check is a list of named *cases*, each in one *group* (e.g. "core cases",
"(h, w) pairs", "integer inputs"). In the kernel, ``run_check`` runs every case and emits
the record (see record.py). In the trusted grader it replays the record: the ``expect_*``
helpers compare what the student's function returned with the reference. A failed
expectation does not stop the case; it is noted with its *kind*:

* "values": the case's own group fails;
* "unchanged" (an input, dout or the cache was modified in place) and "repeat" (a second
  call with the same arguments gave another result) go to the cross-cutting group
  ``UNCHANGED`` when the check declares it, else to the case's own group.

A group passes when none of its cases failed; ``UNCHANGED`` passes when no case modified its
inputs (nor gave another result the second time, where the first was right) and at least one
*value* group passed. A group that judges something other than values (e.g. speed) declares
``needs``: the value groups of which at least one must pass for it to count, so that a
function that returns zeros, fast and without touching its inputs, earns nothing. The cell scores the points of the groups that passed (partial credit),
or, in all-or-nothing mode, all or nothing. Group points come from the cell's points in the
notebook metadata, split by the groups' weights (``allocate``): the metadata stays the one
source of points.

Verdict texts stay short (``MAX_VERDICT`` characters): cases that fail the same way are named
once, the first of them in full.

Standard library and numpy only (also loaded into the grading kernel).
"""

from builtins import (Exception, KeyboardInterrupt, abs, all, any, dict, float,  # noqa: A004
                      getattr, int, isinstance, iter, len, list, max, print, range, round, set,
                      sorted, str, sum, tuple, type, zip)

import numpy

from coursetools.checks import record as _rec
from coursetools.checks.protocol import RECORD_MIME
from coursetools.checks.record import CaseFailure, NotImplementedYet, RecordMismatch, recording

np_array = numpy.array
np_abs = numpy.abs
np_where = numpy.where
np_isnan = numpy.isnan
np_unravel_index = numpy.unravel_index
np_zeros = numpy.zeros
float64 = numpy.float64
catch_warnings = _rec.catch_warnings
simplefilter = _rec.simplefilter

try:  # the kernel and the grader process both have IPython; plain tests may not
    from IPython.display import display as _display
except Exception:  # noqa: BLE001
    _display = None

RTOL, ATOL = 1e-9, 1e-10          # float64 comparisons against the reference
UNCHANGED = "unchanged"            # id of the cross-cutting group (in-place changes, repeats)
MAX_VERDICT = 2000                 # characters of one cell's verdict text
_CASE = {"ctx": None}              # the case being replayed: its context collects failures


class Group:
    """A named set of cases of one check, worth ``weight`` shares of the cell's points.

    ``needs``: ids of value groups; this group counts only when at least one of them passed
    (a speed group: being fast is worth nothing when the values are wrong).
    """

    def __init__(self, id, title, weight, needs=()):  # noqa: A002 - "id" reads best at the call site
        if not (isinstance(weight, (int, float)) and weight > 0):
            raise ValueError(f"group {id!r}: weight must be a positive number")
        self.id, self.title, self.weight = str(id), str(title), float(weight)
        self.needs = tuple(str(n) for n in needs)


class Case:
    """One hidden case: ``body(ctx)`` sets ctx["call"] and ctx["why"], calls, expects."""

    def __init__(self, name, group, body):
        self.name, self.group, self.body = str(name), str(group), body


# ================================ small helpers ================================

def desc(a):
    return f"{tuple(a.shape)} {a.dtype}"


def kw_text(kwargs):
    return "".join(f", {k}={v!r}" for k, v in kwargs.items())


def _fail(kind, message, signature=None):
    """A soft failure of the current case (replay only)."""
    ctx = _CASE["ctx"]
    failure = CaseFailure(message, kind, signature)
    if ctx is None:
        raise failure
    ctx["failures"].append(failure)


def unpack(what, result, names):
    """The parts of a tuple result; anything else fails the case at once."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = _rec.clean_name(type(result).__name__)
        if isinstance(result, (tuple, list)):
            got += f" of length {len(result)}"
        raise CaseFailure(f"{what} must return a tuple ({', '.join(names)}); got a {got}.",
                          signature=("unpack", what))
    return result


def as_float(what, value):
    """A float64 copy of a student's result; fails the case at once if there is none."""
    if isinstance(value, _rec.Opaque):
        raise CaseFailure(f"{what} is not a numeric array (got {_rec.student_text(value.what, 60)}); "
                          f"return a numpy array.",
                          signature=("type", what))
    try:
        return np_array(value, dtype=float64, copy=True)
    except Exception as e:
        raise CaseFailure(f"{what} could not be turned into a float array "
                          f"({type(e).__name__}); return a numpy array.",
                          signature=("type", what)) from None


def expect_array(what, got, expected, hint, rtol=RTOL, atol=ATOL, kind="values"):
    """got == expected element-wise (any numeric dtype, compared as float64)."""
    if recording():
        return
    if isinstance(got, _rec.Opaque) or got is None:
        _fail(kind, f"{what}: expected an array of shape {tuple(expected.shape)}, got "
                    f"{_rec.student_text(getattr(got, 'what', 'None'), 60)}.\n    Likely cause: {hint}",
              ("type", what, kind))
        return
    try:
        g = np_array(got, dtype=float64, copy=True)
    except Exception as e:
        _fail(kind, f"{what} could not be turned into a float array ({type(e).__name__}); "
                    f"return a numpy array.\n    Likely cause: {hint}", ("type", what, kind))
        return
    if g.shape != expected.shape:
        _fail(kind, f"{what}: expected shape {tuple(expected.shape)}, got {tuple(g.shape)}."
                    f"\n    Likely cause: {hint}", ("shape", what, kind, hint))
        return
    err = np_abs(g - expected)
    err = np_where(np_isnan(err), numpy.inf, err)
    tol = atol + rtol * np_abs(expected)
    bad = err > tol
    if bad.any():
        k = int((err - tol).argmax())
        idx = tuple(int(i) for i in np_unravel_index(k, g.shape))
        _fail(kind, f"{what}: {int(bad.sum())} of {g.size} values wrong; largest error "
                    f"{float(err.max()):.4g}, e.g. at index {idx}: expected "
                    f"{float(expected[idx]):.6g}, got {float(g[idx]):.6g}."
                    f"\n    Likely cause: {hint}", ("values", what, kind, hint))


def expect_unchanged(what, before, obj, who):
    """obj still equals the snapshot ``before`` (record.snap) taken before the call."""
    if recording():
        return
    where = _rec.first_change(before, _rec.snap(obj), what)
    if where:
        _fail("unchanged",
              f"{where} was modified in place by {who}.\n    Likely cause: an in-place write "
              f"(x[...] = ..., +=, .fill, .shape = ..., a writeable as_strided view) into an "
              f"input, dout, the cache or params, or a view of them. Never modify them: work on "
              f"new arrays (np.zeros(...), .copy()).", ("unchanged", who))


def numeric_grad(loss, arr, eps=1e-6):
    """Central differences of loss() w.r.t. every element of the grader-owned array arr."""
    g = np_zeros(arr.shape, dtype=float64)
    flat = arr.reshape(-1)
    gflat = g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = loss()
        flat[k] = old - eps
        minus = loss()
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * eps)
    return g


class Memo:
    """Reference results of the hidden cases, computed once per grader process.

    The hidden inputs are fixed, so what the reference returns for them is the same for
    every student: a long-lived grading worker computes it once (``memo(key, thunk)``).
    A key must name everything the value depends on (check, case, what).
    """

    def __init__(self):
        self._values = {}

    def __call__(self, key, thunk):
        if recording():  # the kernel: shape stand-ins, cheap, never kept
            return thunk()
        if key not in self._values:
            self._values[key] = thunk()
        return _copy(self._values[key])


def _copy(value):
    """A copy of a memoised value: checks may not change what the next student compares with."""
    if isinstance(value, numpy.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


# ================================ points ================================

def allocate(groups, points):
    """Points of each group: ``points`` split by weight, in halves, summing exactly to it."""
    total = sum(g.weight for g in groups)
    units = points * 2
    if abs(units - round(units)) > 1e-9 or not groups:
        return [points * g.weight / total for g in groups] if groups else []
    units = int(round(units))
    shares = [units * g.weight / total for g in groups]
    whole = [int(s) for s in shares]
    left = units - sum(whole)
    order = sorted(range(len(groups)), key=lambda i: (-(shares[i] - whole[i]), i))
    for i in order[:left]:
        whole[i] += 1
    return [w / 2 for w in whole]


# ================================ running a check ================================

class Verdict:
    """What the trusted replay of one cell found (see ``text`` and ``score``)."""

    def __init__(self, fn_name, groups):
        self.fn_name = fn_name
        self.groups = groups
        self.passed = {}            # group id -> bool
        self.counts = {}            # group id -> (cases, failed cases)
        self.gated = set()          # groups whose cases passed but which need a value group
        self.failures = []          # (case name, ctx, CaseFailure) in case order
        self.not_implemented = None
        self.no_record = None
        self.printed = []           # lines printed by the check while it was replayed
        self.unchanged_failed = False

    def score(self, points, all_or_nothing=False):
        if self.not_implemented or self.no_record:
            return 0.0
        if all_or_nothing:
            return float(points) if all(self.passed.values()) else 0.0
        return float(sum(p for g, p in zip(self.groups, allocate(self.groups, points))
                         if self.passed.get(g.id)))

    def text(self, points, all_or_nothing=False, limit=MAX_VERDICT):
        name = self.fn_name
        if self.not_implemented:
            return (f"{self.not_implemented} is not implemented yet (it raises "
                    f"NotImplementedError): delete the `raise NotImplementedError()` line and "
                    f"write your code where it says YOUR CODE HERE.")[:limit]
        if self.no_record:
            return f"{name}: {self.no_record}"[:limit]
        score = self.score(points, all_or_nothing)
        head = f"{name}: {score:g} of {points:g} points" + (
            " (all or nothing: every group must pass)" if all_or_nothing else "") + "."
        lines = [head]
        for group, pts in zip(self.groups, allocate(self.groups, points)):
            cases, failed = self.counts.get(group.id, (0, 0))
            what = (f"{cases} case{'s' if cases != 1 else ''}" if group.id != UNCHANGED
                    else "every case")
            state = "passed" if self.passed.get(group.id) else "FAILED"
            detail = (f": {failed} of {cases} cases failed" if state == "FAILED" and failed
                      else ": counts only when the values are right" if group.id in self.gated
                      else f", {what}")
            if state == "FAILED" and group.id == UNCHANGED and not self.unchanged_failed:
                detail = ": only counts when another group passes"
            lines.append(f"  {state:<6}  {group.title} ({pts:g} point{'s' if pts != 1 else ''}{detail})")
        lines.extend(self.printed[:3])
        body = "\n".join(lines)
        return body + self._failure_text(limit - len(body))

    def _failure_text(self, room):
        if not self.failures:
            return ""
        by_signature = {}
        for case, ctx, failure in self.failures:
            by_signature.setdefault(_key(failure.signature), []).append((case, ctx, failure))
        parts, shown = [], set()
        for cases in by_signature.values():
            case, ctx, failure = cases[0]
            block = (f"\n\n[case '{case}'] {ctx.get('call', '')}"
                     + (f"\n    This case: {ctx['why']}." if ctx.get("why") else "")
                     + f"\n    {failure.message}")
            others = sorted({c for c, _, _ in cases[1:]} - {case})
            if others:
                block += (f"\n    {len(others)} more case{'s' if len(others) != 1 else ''} "
                          f"fail{'s' if len(others) == 1 else ''} the same way: {', '.join(others)}.")
            if len(block) > room - 120 and parts:
                break
            parts.append(block[:max(room - 120, 200)])
            room -= len(parts[-1])
            shown.update([case, *others])
        rest = sorted({c for c, _, _ in self.failures} - shown)
        if rest:
            parts.append(f"\n\n{len(rest)} more failing case{'s' if len(rest) != 1 else ''} "
                         f"(other causes): {', '.join(rest)}."[:max(room, 60)])
        return "".join(parts)


def _key(signature):
    return repr(signature)


def _check_groups(fn_name, cases, groups):
    ids = [g.id for g in groups]
    if len(set(ids)) != len(ids) or not groups:
        raise ValueError(f"{fn_name}: groups must be declared once each")
    for g in groups:
        if g.needs and (not set(g.needs) <= set(ids) or UNCHANGED in g.needs or g.id in g.needs
                        or any(o.needs for o in groups if o.id in g.needs)):
            raise ValueError(f"{fn_name}: group {g.id!r} needs {g.needs}: they must be value "
                             f"groups of the same check")
    unknown = sorted({c.group for c in cases} - set(ids))
    if unknown or any(c.group == UNCHANGED for c in cases):
        raise ValueError(f"{fn_name}: cases in undeclared groups {unknown} (or in {UNCHANGED!r})")


def run_check(fn_name, cases, groups):
    """Kernel: run every case, record it, emit the record. Grader: replay it into a Verdict.

    The verdict is also left in ``LAST["verdict"]`` for the trusted grader.
    """
    _check_groups(fn_name, cases, groups)
    if recording():
        rec = {"check": fn_name, "cases": {}}
        for case in cases:
            _rec.STATE["events"] = rec["cases"][case.name] = []
            try:
                with catch_warnings():
                    simplefilter("ignore")          # student warnings must not reach stderr
                    case.body({"call": "", "why": "", "failures": []})
            except NotImplementedYet:
                break                               # the grader stops at the same place
            except KeyboardInterrupt:
                raise
            except Exception:
                pass                                # judged by the grader, from the record
        _rec.STATE["events"] = None
        if _rec.STATE["sink"] is not None:
            _rec.STATE["sink"].append(rec)          # tests: records into a list
        elif _display is not None:
            _display({RECORD_MIME: rec}, raw=True)
        print(f"{fn_name}: {len(rec['cases'])} hidden case(s) run and recorded; the grader judges them")
        return None
    verdict = Verdict(fn_name, groups)
    LAST["verdict"] = verdict
    replay = _rec.STATE["replay"]
    if not isinstance(replay, dict) or replay.get("check") != fn_name or \
            not isinstance(replay.get("cases"), dict):
        verdict.no_record = ("no record of these hidden tests came out of the grading kernel "
                             "(they did not run to the end).")
        return verdict
    value_failed, unchanged_failed = set(), False
    for case in cases:
        ctx = {"call": "", "why": "", "failures": []}
        events = replay["cases"].get(case.name)
        _rec.STATE["events"] = iter(events if isinstance(events, list) else [])
        _CASE["ctx"] = ctx
        try:
            case.body(ctx)
        except NotImplementedYet as e:
            verdict.not_implemented = str(e.args[0]) if e.args else fn_name
            return verdict
        except CaseFailure as e:
            ctx["failures"].append(e)
        except RecordMismatch as e:
            ctx["failures"].append(CaseFailure(str(e.args[0]), signature=("mismatch",)))
        except Exception as e:
            ctx["failures"].append(CaseFailure(
                f"the result could not be checked ({type(e).__name__}: {_rec.student_text(e, 100)}); "
                f"check the types and shapes you return.", signature=("unchecked", type(e).__name__)))
        finally:
            _rec.STATE["events"] = None
            _CASE["ctx"] = None
        has_unchanged = any(g.id == UNCHANGED for g in groups)
        values = [f for f in ctx["failures"] if f.kind == "values" or not has_unchanged]
        side = [f for f in ctx["failures"] if f.kind == "unchanged"
                or (f.kind == "repeat" and not values)] if has_unchanged else []
        if values:
            value_failed.add(case.name)
        if side:
            unchanged_failed = True
        for failure in values or side:
            verdict.failures.append((case.name, ctx, failure))
            break
        if values and side:
            verdict.failures.append((case.name, ctx, side[0]))
    for group in groups:
        members = [c for c in cases if c.group == group.id]
        failed = [c for c in members if c.name in value_failed]
        verdict.counts[group.id] = (len(members), len(failed))
        verdict.passed[group.id] = bool(members) and not failed
    for group in groups:
        if group.needs and verdict.passed[group.id] and not any(verdict.passed[n] for n in group.needs):
            verdict.passed[group.id] = False
            verdict.gated.add(group.id)
    if any(g.id == UNCHANGED for g in groups):
        values = [g.id for g in groups if g.id != UNCHANGED and not g.needs]
        verdict.passed[UNCHANGED] = (not unchanged_failed) and any(verdict.passed[g] for g in values)
        verdict.unchanged_failed = unchanged_failed
        verdict.counts[UNCHANGED] = (len(cases), 0)
    return verdict


LAST = {"verdict": None}


def say(line):
    """A line the check wants in its verdict (e.g. a measured speed): printed in the kernel,
    kept in the verdict when replayed."""
    if recording():
        print(line)
    elif LAST["verdict"] is not None:
        LAST["verdict"].printed.append(str(line)[:300])
