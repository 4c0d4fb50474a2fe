"""Sphinx configuration of the sklearn-lowrank documentation.

Build with ``sphinx-build -W -b html . _build/html`` from this folder (``tox -e docs``); the gallery in
``../examples`` is executed. The build needs no network: intersphinx links to numpy, scipy, scikit-learn, torch
and matplotlib are off unless ``SKLEARN_LOWRANK_DOCS_INTERSPHINX=1`` is set.
"""

import importlib
import os
import pkgutil
import re
import sys
import warnings
from pathlib import Path

# Examples and docstrings run small torch fits: one thread avoids oversubscribing the 2-core CI machine, where
# two spinning threads made the gallery several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import torch  # noqa: E402

import sklearn_lowrank  # noqa: E402

torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent

project = "sklearn-lowrank"
author = "the sklearn-lowrank developers"
copyright = "the sklearn-lowrank developers"
release = sklearn_lowrank.__version__
version = re.sub(r"(\.dev\d*|\+.*)$", "", release)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc -----------------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections say it better
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- intersphinx: optional, the default build is offline ----------------------------------------------------------
if os.environ.get("SKLEARN_LOWRANK_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# -- sphinx-gallery -----------------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "capture_repr": (),
    "doc_module": ("sklearn_lowrank",),
    "backreferences_dir": "generated/backreferences",
}
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

# -- HTML ---------------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-lowrank {version}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False

# -- myst (the changelog is Markdown) -----------------------------------------------------------------------------
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]


# -- every public name is in the API reference ----------------------------------------------------------------------
def _public_names():
    """Fully qualified public names: the package's ``__all__`` and that of each public submodule."""
    names = set()
    for name in sklearn_lowrank.__all__:
        obj = getattr(sklearn_lowrank, name)
        if name.startswith("__") or type(obj).__name__ == "module":
            continue
        names.add(f"sklearn_lowrank.{name}")
    for info in pkgutil.iter_modules(sklearn_lowrank.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"sklearn_lowrank.{info.name}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            # re-exports of a top-level name are documented once, under sklearn_lowrank
            if getattr(sklearn_lowrank, name, None) is obj:
                continue
            names.add(f"sklearn_lowrank.{info.name}.{name}")
    return names


def _check_api_reference(app):
    text = (HERE / "api.rst").read_text()
    documented, module = set(), "sklearn_lowrank"
    for line in text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
        elif re.match(r"^   [A-Za-z_][\w.]*$", line):
            documented.add(f"{module}.{line.strip()}")
    missing = sorted(_public_names() - documented)
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "public names missing from docs/api.rst (add them to an autosummary list): %s", ", ".join(missing))


# -- docstrings written for the terminal, rendered as reStructuredText ------------------------------------------------
# The docstrings are numpydoc, read mostly in a terminal or an IDE: ``n_units_`` or ``|F|`` in plain text would be
# reStructuredText references and substitutions. Escape them (outside literals, roles, math and doctests), and
# join lines continued with a backslash, before numpydoc parses the sections.
_PROTECTED = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]+`|`[^`]+`_{0,2}|\[\w+\]_|https?://\S+)")


def _escape_text(text):
    parts = _PROTECTED.split(text)
    for i in range(0, len(parts), 2):
        part = re.sub(r"(?<=\w)_(?=[\s,.;:)\]}/]|$)", r"\\_", parts[i])
        part = part.replace("|", r"\|")
        parts[i] = re.sub(r"(?<!\*)\*(?!\*)", r"\\*", part)
    return "".join(parts)


def _indent(line):
    return len(line) - len(line.lstrip())


def _escape_docstring(app, what, name, obj, options, lines):
    joined = []
    for line in lines:
        if joined and joined[-1].rstrip().endswith("\\"):
            joined[-1] = joined[-1].rstrip()[:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line)
    body = [line for line in joined[1:] if line.strip()]
    if body and min(_indent(line) for line in body) > 0:  # a continuation at column 0 spoilt the dedent
        shift = min(_indent(line) for line in body)
        joined = joined[:1] + [line[shift:] for line in joined[1:]]
    out, block_indent, doctest = [], None, False
    for line in joined:
        stripped = line.strip()
        if doctest and not stripped:
            block_indent, doctest = None, False
        if block_indent is not None:
            if stripped and _indent(line) <= block_indent:
                block_indent = None
            else:
                out.append(line)
                continue
        if stripped.startswith((">>>", "... ")) or stripped == "...":
            block_indent, doctest = _indent(line) - 1, True  # the doctest's output follows, up to a blank line
            out.append(line)
            continue
        if stripped.startswith(".. math::") or stripped.endswith("::"):
            block_indent = _indent(line)
            out.append(line if stripped.startswith("..") else _escape_text(line))
            continue
        out.append(line if stripped.startswith("..") else _escape_text(line))
    lines[:] = out


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing methods: documented by scikit-learn, noise here
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("autodoc-process-docstring", _escape_docstring, priority=100)
    app.connect("autodoc-skip-member", _skip_member)


sys.path.insert(0, str(HERE))
