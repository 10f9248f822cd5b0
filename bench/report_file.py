"""The reports/bench-*.md files that `make bench` and `make bench-grade` own.

Each benchmark writes its whole report file (never a section of a hand-written document):
a title, one line saying which command wrote it and where it is explained, then the
measured text. Rerunning a benchmark replaces its file; nothing else edits it.
"""

from pathlib import Path

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def render(title, command, explained_in, body):
    """The report's Markdown: ``body`` (the measured text) under a title and a provenance line."""
    return (f"# {title}\n\n"
            f"Written by `{command}` (do not edit: the next run replaces this file). "
            f"What it measures and what the numbers mean: {explained_in}.\n\n"
            f"{body.strip()}\n")


def write(path, title, command, explained_in, body):
    """Write the report to ``path`` (created with its folder if needed); returns the text."""
    text = render(title, command, explained_in, body)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text
