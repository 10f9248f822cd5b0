"""The documentation holds together: every relative link leads somewhere, the README stays short.

Checks README.md, docs/*.md, the READMEs of the student-data folders and the committed
reports: every relative Markdown link `[text](path)`, `[text](path#anchor)` or `[text](#anchor)`
(also images and reference definitions) names an existing file, and every `#anchor` is a
heading of the target, slugged as GitHub does. Reads files only: well under a second.
"""

import ast
import re
import sys

import pytest

from conftest import REPO

README_LIMIT = 8192  # bytes
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
CODE_SPAN = re.compile(r"(`+)[^`]+?\1")


def documents(repo=REPO):
    """The Markdown files people read in the repository."""
    paths = [repo / "README.md", *sorted((repo / "docs").glob("*.md")),
             *(repo / area / "README.md" for area in ("submitted", "autograded", "feedback")),
             *sorted((repo / "reports").glob("*.md"))]
    return [p for p in paths if p.is_file()]


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def prose(text):
    """``text`` with fenced code blocks and code spans blanked out (line numbers kept)."""
    lines = dict(prose_lines(text))
    kept = "\n".join(lines.get(n, "") for n in range(1, len(text.splitlines()) + 1))
    return CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), kept)


def slug(heading):
    """GitHub's anchor for a heading: the rendered text, lowercased, punctuation removed
    (letters, digits, '_' , '-' and spaces stay), every space turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)                         # inline HTML tags vanish
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor a Markdown file defines (duplicate headings get -1, -2, ... as on GitHub)."""
    seen, found = {}, set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path):
    """(line number, target) of every link in the prose of a Markdown file (the text of a
    link may run over several lines)."""
    text = prose(path.read_text(encoding="utf-8"))
    for m in INLINE_LINK.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1)
    for number, line in enumerate(text.splitlines(), 1):
        m = REFERENCE_DEF.match(line)
        if m:
            yield number, m.group(1)


def broken_links(path, repo=REPO):
    """Messages for the relative links of ``path`` that lead nowhere."""
    problems = []
    for number, target in links(path):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        where = f"{path.relative_to(repo)}:{number}: [{target}]"
        dest = (path.parent / file_part).resolve() if file_part else path
        if file_part.startswith("/") or not dest.is_relative_to(repo.resolve()):
            problems.append(f"{where} leaves the repository")
        elif not dest.exists():
            problems.append(f"{where}: no such file {dest.relative_to(repo.resolve())}")
        elif anchor:
            if dest.is_dir() or dest.suffix.lower() != ".md":
                problems.append(f"{where}: an anchor into something that is not a Markdown file")
            elif anchor not in anchors(dest):
                problems.append(f"{where}: {dest.name} has no heading with the anchor #{anchor} "
                                f"(it has: {', '.join(sorted(anchors(dest))) or 'none'})")
    return problems


# --- the repository's documents ------------------------------------------------

@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path):
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_documents_are_all_checked():
    names = {str(p.relative_to(REPO)) for p in documents()}
    for expected in ("README.md", "docs/README.md", "docs/instructor-guide.md",
                     "submitted/README.md", "reports/bench-conv.md"):
        assert expected in names, f"{expected} is not among the checked documents: {sorted(names)}"


def test_readme_stays_short():
    size = (REPO / "README.md").stat().st_size
    assert size <= README_LIMIT, (f"README.md is {size} bytes, the limit is {README_LIMIT}: "
                                  "move details into docs/ and link them")


def test_the_readme_keeps_the_two_setup_commands():
    """A fresh machine runs exactly these two; .ci/run runs them too."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```sh\n(.*?)^```", text, re.M | re.S)
    assert block, "README.md has no ```sh block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["make release", "make test"], f"the first command block is {commands}"


def test_docs_index_lists_every_document():
    index = REPO / "docs" / "README.md"
    listed = {(index.parent / target.partition("#")[0]).resolve() for _, target in links(index)}
    for doc in sorted((REPO / "docs").glob("*.md")):
        if doc != index:
            assert doc.resolve() in listed, f"docs/{doc.name} is not linked from docs/README.md"


@pytest.mark.parametrize("script, report, command", [
    ("conv_bench.py", "bench-conv.md", "make bench"),
    ("grade_bench.py", "bench-grade.md", "make bench-grade"),
])
def test_a_committed_bench_report_is_what_its_benchmark_writes(script, report, command, tmp_path):
    """The tables moved out of the README by hand: the benchmark's own writer, given the
    measured text, must reproduce the committed file byte for byte."""
    sys.path.insert(0, str(REPO / "bench"))
    import report_file

    source = (REPO / "bench" / script).read_text(encoding="utf-8")
    consts = {t.id: ast.literal_eval(node.value) for node in ast.parse(source).body
              if isinstance(node, ast.Assign) for t in node.targets
              if isinstance(t, ast.Name) and t.id in ("TITLE", "EXPLAINED_IN")}
    assert f'report_file.write(REPORT, TITLE, "{command}", EXPLAINED_IN,' in source
    assert f'report_file.REPORTS / "{report}"' in source
    committed = (REPO / "reports" / report).read_text(encoding="utf-8")
    body = committed.split("\n\n", 2)[2]
    assert body.startswith(f"Measured by `{command}` on "), body[:80]
    written = report_file.write(tmp_path / report, consts["TITLE"], command, consts["EXPLAINED_IN"], body)
    assert written == committed == (tmp_path / report).read_text(encoding="utf-8")


# --- the checker itself -----------------------------------------------------------

@pytest.mark.parametrize("heading, expected", [
    ("The grading cycle", "the-grading-cycle"),
    ("What `make release` does", "what-make-release-does"),
    ("Speed of the fast convolution (`make bench`)", "speed-of-the-fast-convolution-make-bench"),
    ("Sandboxed kernels (`coursetools/sandbox.py`)", "sandboxed-kernels-coursetoolssandboxpy"),
    ("Grading untrusted code: threat model", "grading-untrusted-code-threat-model"),
    ("CNN spatial operations from scratch — an nbgrader course",
     "cnn-spatial-operations-from-scratch--an-nbgrader-course"),
    ("The gradebook on a database server (`DB=...`)", "the-gradebook-on-a-database-server-db"),
    ("grader_setup cells", "grader_setup-cells"),
    ("See [the guide](docs/x.md)", "see-the-guide"),
])
def test_slug_follows_github(heading, expected):
    assert slug(heading) == expected


def test_a_broken_link_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "target.md").write_text("# Target\n\n## Same\n\n## Same\n\n```\n# not a heading\n```\n")
    good = tmp_path / "docs" / "good.md"
    good.write_text("[t](target.md) [t](target.md#target) [t](target.md#same-1) [t](#top)\n"
                    "# Top\n![img](target.md) [web](https://example.org/x#y) `[code](nowhere.md)`\n"
                    "```\n[fenced](nowhere.md)\n```\n[ref]: target.md#same\n")
    assert broken_links(good, tmp_path) == []
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text("# Bad\n\nSee [the guide](missing.md), [a heading](target.md#nope),\n"
                   "[not a heading](target.md#not-a-heading), [here](#elsewhere),\n"
                   "[outside](../../etc/passwd) and [def].\n\n[def]: gone.md\n")
    problems = broken_links(bad, tmp_path)
    assert len(problems) == 6, "\n".join(problems)
    for text in ("bad.md:3: [missing.md]: no such file docs/missing.md",
                 "bad.md:3: [target.md#nope]: target.md has no heading with the anchor #nope",
                 "[target.md#not-a-heading]", "bad.md:4: [#elsewhere]", "[../../etc/passwd] leaves",
                 "bad.md:7: [gone.md]"):
        assert any(text in p for p in problems), f"{text!r} not reported in:\n" + "\n".join(problems)
