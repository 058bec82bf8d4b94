"""A ".ipynb" entry in the download menu of every book page that has code cells.

sphinx-book-theme (1.x) fills the header's download menu with the page source (``.md``), a
"print to PDF" entry and, only where the page context holds ``ipynb_source``, the notebook
(``.ipynb``). For a page written as a MyST Markdown notebook it sets ``ipynb_source`` only while
it makes launch buttons (Binder, JupyterHub, Colab, Thebe, JupyterLite), and this book is offline
and has none, so its pages would offer no notebook. This extension does what the theme does
there, without launch buttons: for each page that myst-nb read as a notebook and that has a
code cell, it writes the notebook myst-nb executed during the build (``_build/jupyter_execute``)
to ``_build/html/_sources/<page>.ipynb`` and sets ``ipynb_source``, which the theme turns into
the menu entry. The notebook keeps every cell, hidden ones included, so it runs as the page
did (from the repository's ``book/`` folder); like the page, it leaves out stderr output where
the book removes it (``execute: stderr_output: remove``).

Pages whose source is an ``.ipynb`` are left alone: their source entry is already a notebook.
Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from sphinx.application import Sphinx
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def _executed_notebook(app: Sphinx, pagename: str) -> Path:
    return Path(app.env.mystnb_config.output_folder, *f"{pagename}.ipynb".split("/"))


def add_notebook_download(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # not a notebook page (or a page Sphinx makes, such as search)
    if Path(app.env.doc2path(pagename)).suffix == ".ipynb":
        return
    executed = _executed_notebook(app, pagename)
    if not executed.is_file():
        LOGGER.warning(f"{pagename}: no executed notebook at {executed}; the page offers no .ipynb")
        return
    notebook = nbformat.read(executed, as_version=nbformat.NO_CONVERT)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code_cells:
        return
    if app.env.mystnb_config.output_stderr == "remove":
        for cell in code_cells:
            cell.outputs = [out for out in cell.get("outputs", []) if out.get("name") != "stderr"]
    notebook.metadata.pop("source_map", None)  # myst-nb's own line map of the Markdown source
    target = Path(app.outdir, "_sources", *f"{pagename}.ipynb".split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")
    # Before sphinx-book-theme builds the header buttons (html-page-context, priority 501).
    app.connect("html-page-context", add_notebook_download, priority=500)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
