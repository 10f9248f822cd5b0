"""The feedback page a student (or a TA) opens: safe, readable offline, easy to navigate.

Everything in a graded notebook came from the student's kernel or the student's editor, and
the feedback page is opened in a browser: nothing of it may run as script there (an output
with <script>, an <img onerror>, a javascript: link, an iframe, a markdown cell with raw HTML).
Three layers, each enough on its own for scripts:

1. ``SanitizeOutputs`` (preprocessor) keeps only output types the page can show safely:
   text, errors, PNG/JPEG images (strict base64, no attacker metadata), and HTML or markdown
   passed through the allowlist sanitizer (nh3 = the Ammonia library); anything else
   (JavaScript, widgets, SVG, PDF, LaTeX, unknown types) is dropped and text/plain kept.
2. Markdown cells are rendered here (markdown-it) and sanitized the same way; their math is
   rendered to MathML on the server (latex2mathml), so the page needs no MathJax, no
   internet and no script at all.
3. The page carries a Content-Security-Policy that allows no script, no frame, no remote
   image or font, no form, no plugin: a script that got through could not run.

``FeedbackCells`` drops the grader's internal 0-point cells (``grader_*``) and names each
graded cell by the function it grades (the nearest answer cell above it) for the
navigation and the cell's heading (nbgrader's own template calls them all "Test cell").
"""

import base64
import binascii
import html
import os
import re
import xml.etree.ElementTree as ET

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
TEMPLATE_NAME = "feedback_safe"

# default-src 'none': no script, frame, connection, font, media or object of any origin;
# styles only inline (nbconvert's and ours); images only embedded (data:).
CSP = ("default-src 'none'; script-src 'none'; object-src 'none'; frame-src 'none'; "
       "img-src data:; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; "
       "form-action 'none'")
# the class report (coursetools/report.py) shows its charts, PNG files beside it
REPORT_CSP = CSP.replace("img-src data:", "img-src 'self' file: data:")

INTERNAL_PREFIX = "grader_"

# --- sanitizing HTML -------------------------------------------------------------------------

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u",
    "ul", "var",
}
_ATTRIBUTES = {
    "*": {"title", "class", "align"},
    "a": {"href", "name", "id"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"},
    "details": {"open"}, "ol": {"start"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
}
# links may go to the web (http/https/mailto) or within the page; images only data: (CSP)
_URL_SCHEMES = {"http", "https", "mailto", "data"}
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")


def _attribute_filter(tag, name, value):
    if tag == "img" and name == "src":
        return value if _DATA_IMAGE.match(value) else None
    if tag == "a" and name == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def sanitize_html(text):
    """``text`` with only harmless HTML left: no script, handler, style, frame, form, embed,
    javascript:/vbscript: URL, remote image. Text content is kept (escaped where needed)."""
    import nh3

    return nh3.clean(str(text), tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                     attribute_filter=_attribute_filter, link_rel="noopener noreferrer nofollow",
                     strip_comments=True)


# --- math -> MathML ----------------------------------------------------------------------------

_MATHML_TAGS = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace",
    "msub", "msup", "msubsup", "munder", "mover", "munderover", "mfrac", "msqrt", "mroot",
    "mstyle", "mpadded", "mphantom", "mfenced", "menclose", "mtable", "mtr", "mtd", "merror",
    "mmultiscripts", "mprescripts", "none",
}
_MATHML_ATTRIBUTES = {
    "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "width",
    "height", "depth", "accent", "accentunder", "displaystyle", "scriptlevel", "linethickness",
    "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines",
    "frame", "framespacing", "notation", "open", "close", "separators", "movablelimits",
    "largeop", "symmetric", "minsize", "maxsize", "form", "voffset", "encoding", "xmlns",
}


def _clean_mathml(element):
    """Drop every element and attribute that is not plain MathML presentation markup (and
    the namespace prefixes: in HTML, <math> puts its content in the MathML namespace)."""
    element.tag = element.tag.split("}")[-1]
    for child in list(element):
        tag = child.tag.split("}")[-1]
        if tag not in _MATHML_TAGS:
            element.remove(child)
            continue
        _clean_mathml(child)
    for name in list(element.attrib):
        if name.split("}")[-1] not in _MATHML_ATTRIBUTES:
            del element.attrib[name]


def latex_to_mathml(latex, display):
    """MathML for ``latex`` (no script needed to show it), or the escaped source if it cannot
    be converted."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(latex.strip(), display="block" if display else "inline")
        root = ET.fromstring(mathml)
    except Exception:  # noqa: BLE001 - a formula it cannot read is shown as its source
        return f'<code class="math-source">{html.escape(latex)}</code>'
    if root.tag.split("}")[-1] != "math":
        return f'<code class="math-source">{html.escape(latex)}</code>'
    _clean_mathml(root)
    return ET.tostring(root, encoding="unicode", method="html")


def safe_markdown(source):
    """Markdown (GitHub tables, raw HTML, $...$ and $$...$$ math) -> sanitized HTML + MathML."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    formulas = []

    def keep(latex, display):
        formulas.append(latex_to_mathml(latex, display))
        return f"\x02MATH{len(formulas) - 1}\x03"

    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    md.use(dollarmath_plugin, allow_space=True, double_inline=True,
           renderer=lambda content, options: keep(content, bool(options.get("display_mode"))))
    rendered = sanitize_html(md.render(str(source).replace("\x02", "").replace("\x03", "")))
    return re.sub("\x02MATH(\\d+)\x03", lambda m: formulas[int(m.group(1))], rendered)


# --- nbgrader GenerateFeedback preprocessors ------------------------------------------------------

_SHOWN_AS_IS = {"text/plain"}
_IMAGES = {"image/png", "image/jpeg"}


def _valid_base64(value):
    text = "".join(value) if isinstance(value, list) else str(value)
    if not re.fullmatch(r"[A-Za-z0-9+/=\s]*", text):
        return None
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return "".join(text.split())


def _as_text(value):
    return "".join(value) if isinstance(value, list) else str(value)


class SanitizeOutputs(Preprocessor):
    """Keep only outputs that cannot run script in the feedback page (module docstring)."""

    enabled = Bool(True, help="Sanitize the outputs of feedback pages").tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        cell.pop("attachments", None)
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue  # stream and error outputs are shown as escaped text
            output["metadata"] = {}  # widths, heights, ... are written into attributes
            data = output.get("data", {})
            kept = {}
            for mime, value in data.items():
                if mime in _SHOWN_AS_IS:
                    kept[mime] = _as_text(value)
                elif mime in _IMAGES:
                    clean = _valid_base64(value)
                    if clean is not None:
                        kept[mime] = clean
                elif mime == "text/html":
                    kept[mime] = sanitize_html(_as_text(value))
                elif mime == "text/markdown":
                    kept["text/html"] = safe_markdown(_as_text(value))
            if not kept:
                kept["text/plain"] = f"[output of type {', '.join(sorted(data)) or 'none'} not shown]"
            output["data"] = kept
        return cell, resources


class FeedbackCells(Preprocessor):
    """Hide the grader's internal cells; name each graded cell by the function it grades."""

    enabled = Bool(True, help="Leave internal cells out, name graded cells").tag(config=True)

    internal_prefix = Unicode(
        INTERNAL_PREFIX, help="grade_ids of the grader's internal cells (0 points), left out "
        "of the feedback page").tag(config=True)

    def preprocess(self, nb, resources):
        resources["feedback_csp"] = CSP
        kept, function = [], None
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            gid = str(meta.get("grade_id", ""))
            if gid.startswith(self.internal_prefix) and not float(meta.get("points", 0) or 0):
                continue
            if meta.get("solution") and cell.cell_type == "code":
                function = _defined_function(cell.source) or gid
            if meta.get("grade") and not meta.get("solution"):
                name = function or re.sub(r"_hidden$", "", gid)
                cell.metadata["feedback_label"] = name
                # the partial-credit number nbgrader reads (an execute_result): the heading
                # shows the score, the verdict says why
                cell.outputs = [o for o in cell.get("outputs", [])
                                if o.get("output_type") != "execute_result"]
            kept.append(cell)
        nb.cells = kept
        return nb, resources


def _defined_function(source):
    match = re.search(r"^def\s+([A-Za-z_]\w*)\s*\(", source, re.M)
    return match.group(1) if match else None


def configure(c):
    """The feedback pipeline and page (nbgrader_config.py calls this)."""
    import nbgrader
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, FeedbackCells,
                                        SanitizeOutputs, CSSHTMLHeaderPreprocessor]
    nbgrader_templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions",
                                      "formgrader", "templates")
    c.HTMLExporter.template_name = TEMPLATE_NAME
    c.HTMLExporter.extra_template_basedirs = [TEMPLATES, nbgrader_templates]
    c.HTMLExporter.filters = {"safe_markdown": "coursetools.feedback.safe_markdown",
                              "safe_html": "coursetools.feedback.sanitize_html"}
