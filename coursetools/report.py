"""`make report`: the instructor's class report of one assignment.

Reads the gradebook (nbgrader's ORM only, so any SQLAlchemy URL works) and the course
folders, and writes reports/class-<assignment>/report.md, report.html (self-contained, images
by relative path) and the PNG charts beside them.
"""

import html
from datetime import datetime

import nbformat
import numpy as np

from coursetools import grading
from coursetools.errors import CourseError
from coursetools.status import duration as _duration  # '2 d 3 h', shared with make summary

HARDEST = 5
PASS_CHART, HIST_CHART = "pass-rates.png", "score-distribution.png"


def _cell_order(course, notebook):
    """{grade_id: position} from the release (else nbgrader source) notebook; {} if neither."""
    for folder in (course.release_dir, course.build_dir):
        try:
            nb = nbformat.read(folder / f"{notebook}.ipynb", as_version=4)
        except Exception:  # noqa: BLE001 - missing or unreadable: try the next, else DB order
            continue
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        return {gid: i for i, gid in enumerate(ids) if gid}
    return {}


def _gather(course):
    """Everything the report shows, read from the gradebook in a few queries."""
    from nbgrader.api import Grade, SubmittedAssignment, SubmittedNotebook, TaskCell

    course.require_gradebook_assignment()
    with course.gradebook() as gb:
        assignment = gb.find_assignment(course.assignment)
        several = len(assignment.notebooks) > 1
        cells, skipped = [], []
        for nb in assignment.notebooks:
            order = _cell_order(course, nb.name)
            answers = {c.name for c in nb.solution_cells}
            graded = sorted(nb.grade_cells + nb.task_cells,  # stable: unknown cells last
                            key=lambda c: order.get(c.name, len(order)))
            for c in graded:
                label = f"{nb.name}/{c.name}" if several else c.name
                if not c.max_score:
                    skipped.append(label)
                    continue
                kind = "task" if isinstance(c, TaskCell) else "answer" if c.name in answers else "test"
                cells.append({"id": c.id, "label": label, "kind": kind,
                              "max": float(c.max_score), "scores": []})
        rows = (gb.db.query(Grade.cell_id, Grade.score, Grade.auto_score, Grade.manual_score,
                            SubmittedAssignment.student_id)
                .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .filter(SubmittedAssignment.assignment_id == assignment.id).all())
        # graded = at least one cell scored (autograde creates the submission BEFORE it
        # runs the notebook, so a student it gave up on has a submission with no scores)
        scored = [r for r in rows if r.auto_score is not None or r.manual_score is not None]
        totals = {}
        for r in scored:
            totals[r.student_id] = totals.get(r.student_id, 0.0) + float(r.score)
        by_id = {c["id"]: c for c in cells}
        for r in scored:
            if r.cell_id in by_id:
                by_id[r.cell_id]["scores"].append(float(r.score))
        late = []
        for sub in assignment.submissions:
            if sub.student_id in totals and sub.total_seconds_late > 0:
                penalty = float(sub.late_submission_penalty or 0.0)
                late.append((sub.student_id, sub.total_seconds_late, sub.timestamp, penalty,
                             totals[sub.student_id] - penalty))
        in_gradebook = {sub.student_id for sub in assignment.submissions}
        notebooks = [nb.name for nb in assignment.notebooks]
        max_score = float(assignment.max_score)
    return {"cells": cells, "skipped": skipped, "totals": totals, "late": sorted(late),
            "in_gradebook": in_gradebook, "notebooks": notebooks, "max_score": max_score}


def _failures(course, data, standings=None):
    """[(student, why)] of collected students without a grade (the states of coursetools.status,
    shared with `make summary` and `make export`)."""
    from coursetools import status

    if standings is None:
        standings = status.standings(course, notebooks=data["notebooks"])
    return [(s, st.reason) for s, st in sorted(standings.items())
            if st.state in ("could not be graded", "not graded yet")]


def _num(x):
    return f"{round(x, 2):g}"


def _charts(folder, cells, pct):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    (folder / PASS_CHART).unlink(missing_ok=True)  # no stale chart from an earlier run
    if cells:
        fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(cells)))
        rates = [c["rate"] for c in cells]
        bars = ax.barh(range(len(cells)), rates, color=["#c0392b" if r < 50 else "#2e86c1" for r in rates])
        ax.bar_label(bars, fmt="%.1f %%", padding=3)
        ax.set_yticks(range(len(cells)), [c["label"] for c in cells])
        ax.invert_yaxis()  # notebook order, top to bottom
        ax.set_xlim(0, 115)  # room for the "100.0 %" label
        ax.set_xticks(np.arange(0, 101, 20))
        ax.set_xlabel("submissions with full marks (%)")
        ax.set_title("Pass rate per graded cell")
        fig.tight_layout()
        fig.savefig(folder / PASS_CHART, dpi=100)
        plt.close(fig)
        written.append(PASS_CHART)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(np.clip(pct, 0, 100), bins=np.arange(0, 101, 10), edgecolor="white", color="#2e86c1")
    ax.set_xlim(0, 100)
    ax.set_xticks(np.arange(0, 101, 10))
    ax.set_xlabel("total score (%)")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Score distribution ({len(pct)} graded)")
    fig.tight_layout()
    fig.savefig(folder / HIST_CHART, dpi=100)
    plt.close(fig)
    return written + [HIST_CHART]


def _blocks(course, data, failures, troubled, charts, slow=()):
    """The report as a list of blocks, rendered to both Markdown and HTML."""
    cells, totals, mx = data["cells"], data["totals"], data["max_score"]
    pct = np.array([100 * s / mx if mx else 0.0 for s in totals.values()])
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    b = [("h1", f"Class report: {course.assignment}"),
         ("p", f"{len(totals)} graded submission(s), max score {_num(mx)} points, generated {when}.")]
    hardest = sorted((c for c in cells if c["n"]), key=lambda c: (c["rate"], c["mean"] / c["max"]))[:HARDEST]
    b += [("h2", "Hardest checks"),
          ("ul", [f"{c['label']}: {c['rate']:.1f} % pass ({c['full']} of {c['n']} full marks), "
                  f"mean {_num(c['mean'])} / {_num(c['max'])}" for c in hardest] or ["no graded cell has points"])]
    b += [("h2", "Pass rate per graded cell"),
          ("p", "Pass = full marks. In notebook order." + (
              f" Skipped (0 points): {', '.join(data['skipped'])}." if data["skipped"] else ""))]
    b.append(("table", ["cell", "kind", "max", "graded", "full", "partial", "zero", "pass rate", "mean"],
              [[c["label"], c["kind"], _num(c["max"]), c["n"], c["full"], c["partial"], c["zero"],
                f"{c['rate']:.1f} %", _num(c["mean"])] for c in cells]))
    if PASS_CHART in charts:
        b.append(("img", PASS_CHART, "pass rate per graded cell"))
    b += [("h2", "Score distribution"),
          ("p", f"Total score in % of {_num(mx)} points (before late penalties): mean {pct.mean():.1f} %, "
                f"median {np.median(pct):.1f} %, min {pct.min():.1f} %, max {pct.max():.1f} %."),
          ("img", HIST_CHART, "histogram of total scores, bins of 10 %")]
    b.append(("h2", f"Late submissions ({len(data['late'])})"))
    if data["late"]:
        b.append(("table", ["student", "late by", "submitted (UTC)", "late penalty", "score after penalty"],
                  [[s, _duration(sec), f"{ts:%Y-%m-%d %H:%M}", _num(pen), f"{_num(after)} / {_num(mx)}"]
                   for s, sec, ts, pen, after in data["late"]]))
    else:
        b.append(("p", "none"))
    b.append(("h2", f"Failed submissions ({len(failures) + len(troubled)})"))
    items = [f"{s}: {why}" for s, why in failures]
    items += [f"{s}: graded, lost points: {', '.join(t)}" for s, t in troubled]
    b.append(("ul", items) if items else ("p", "none"))
    b.append(("h2", f"Slow but complete ({len(slow)})"))
    b.append(("p", "Timeouts, the time budget or the output limit in cells without points: the "
                   "notebook was slow or noisy there, no graded cell lost points because of it."))
    slow_items = [f"{s}: {', '.join(t)}" for s, t in slow]
    b.append(("ul", slow_items) if slow_items else ("p", "none"))
    if data.get("missing") is not None:  # with a roster: who handed nothing in
        b.append(("h2", f"No submission ({len(data['missing'])})"))
        b.append(("ul", data["missing"]) if data["missing"] else ("p", "none"))
    return b


def _markdown(blocks):
    def esc(x):
        return str(x).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")

    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            out += [("#" if kind == "h1" else "##") + " " + esc(rest[0]), ""]
        elif kind == "p":
            out += [esc(rest[0]), ""]
        elif kind == "ul":
            out += [f"- {esc(i)}" for i in rest[0]] + [""]
        elif kind == "table":
            head, rows = rest
            out.append("| " + " | ".join(map(esc, head)) + " |")
            out.append("|" + "---|" * len(head))
            out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows] + [""]
        elif kind == "img":
            out += [f"![{rest[1]}]({rest[0]})", ""]
    return "\n".join(out)


def _html(blocks, title):
    def esc(x):
        return html.escape(str(x), quote=True)

    from coursetools.feedback import REPORT_CSP  # no script may run in it (student ids, reasons)

    out = ["<!DOCTYPE html>", f'<html lang="en"><head><meta http-equiv="Content-Security-Policy" '
           f'content="{esc(REPORT_CSP)}"><meta charset="utf-8">',
           f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
           "td:not(:first-child){text-align:right}img{max-width:100%}</style></head><body>"]
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "p"):
            out.append(f"<{kind}>{esc(rest[0])}</{kind}>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            head, rows = rest
            out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{esc(v)}</td>" for v in r) + "</tr>" for r in rows]
            out.append("</table>")
        elif kind == "img":
            out.append(f'<p><img src="{esc(rest[0])}" alt="{esc(rest[1])}"></p>')
    return "\n".join(out + ["</body></html>", ""])


def report(course, log=print, roster=None):
    """Write reports/class-<assignment>/report.md, report.html and charts; return report.md's path."""
    from coursetools import status

    data = _gather(course)
    standings = status.standings(course, roster, notebooks=data["notebooks"])
    # a submission graded once, then collected again or failing since, has no current grade
    stale = {s for s in data["totals"] if standings.get(s) and standings[s].state != "graded"}
    data["totals"] = {s: v for s, v in data["totals"].items() if s not in stale}
    data["late"] = [row for row in data["late"] if row[0] not in stale]
    if roster is not None:
        data["missing"] = sorted(s for s, st in standings.items() if st.state == "no submission")
    if not data["totals"]:
        raise CourseError(f"nothing graded yet for '{course.assignment}': run `make grade` first")
    for c in data["cells"]:
        s = np.array(c["scores"], dtype=float)
        c["n"], c["full"] = len(s), int(np.sum(s >= c["max"] - 1e-9))
        c["zero"] = int(np.sum(s <= 0))
        c["partial"] = c["n"] - c["full"] - c["zero"]
        c["rate"] = 100.0 * c["full"] / c["n"] if c["n"] else 0.0
        c["mean"] = float(s.mean()) if c["n"] else 0.0
    failures = _failures(course, data, standings)
    found = {s: grading.incidents(course, s) for s in sorted(data["totals"])}
    troubled = [(s, lost) for s, (lost, _) in found.items() if lost]
    slow = [(s, late) for s, (_, late) in found.items() if late]
    folder = course.path("reports", f"class-{course.assignment}")
    folder.mkdir(parents=True, exist_ok=True)
    mx = data["max_score"]
    charts = _charts(folder, [c for c in data["cells"] if c["n"]],
                     [100 * s / mx if mx else 0.0 for s in data["totals"].values()])
    blocks = _blocks(course, data, failures, troubled, charts, slow)
    md = folder / "report.md"
    md.write_text(_markdown(blocks), encoding="utf-8")
    (folder / "report.html").write_text(_html(blocks, f"Class report: {course.assignment}"), encoding="utf-8")
    rel = course.relative(folder)
    log(f"report: {rel}/report.md and {rel}/report.html ({len(charts)} chart(s) beside them)")
    return md
