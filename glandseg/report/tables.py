"""Table and Note: what a book page shows besides figures.

Both render as HTML in Jupyter and the book, and as Markdown in text. Every page of the book
that shows a table builds it as a :class:`Table` (book/results.md, book/discussion.md,
book/reproduce.md, and through the figure modules book/data.md, book/method.md and
book/metrics.md); book/data.md and book/method.md show :func:`missing_data_note` when the GlaS
data is not found.
"""

from __future__ import annotations

import html

__all__ = ["Table", "Note", "missing_data_note"]


class Table:
    """A small table that renders as HTML in Jupyter and as Markdown in text.

    Parameters
    ----------
    columns : list of str
    rows : list of list
    caption : str, optional
    groups : list of (str or None, int), optional
        A header row above ``columns``: each entry labels ``span`` consecutive columns, so a
        wide table can say "F1" once over "paper | ours | 95% CI". A ``None`` label of span 1
        leaves that column's own name spanning both header rows. The spans must add up to the
        number of columns.
    """

    def __init__(self, columns, rows, caption=None, groups=None):
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.caption = caption
        self.groups = None if groups is None else [(label, int(span)) for label, span in groups]
        if self.groups is not None and sum(span for _, span in self.groups) != len(self.columns):
            raise ValueError(f"groups span {sum(s for _, s in self.groups)} columns, the table has {len(self.columns)}")

    def _head_html(self):
        esc = lambda v: html.escape(str(v))  # noqa: E731
        if self.groups is None:
            return "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in self.columns) + "</tr>"
        top, bottom, i = [], [], 0
        for label, span in self.groups:
            names = self.columns[i:i + span]
            if label is None and span == 1:
                top.append(f'<th rowspan="2">{esc(names[0])}</th>')
            else:
                top.append(f'<th colspan="{span}" class="group">{esc(label or "")}</th>')
                bottom += [f"<th>{esc(c)}</th>" for c in names]
            i += span
        return "<tr>" + "".join(top) + "</tr><tr>" + "".join(bottom) + "</tr>"

    def _repr_html_(self):
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in self.rows
        )
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead>{self._head_html()}</thead><tbody>{body}</tbody></table>"

    def flat_columns(self):
        """Column names with their group label in front ("F1 paper"), for one-row headers."""
        if self.groups is None:
            return list(self.columns)
        names, i = [], 0
        for label, span in self.groups:
            names += [c if label is None else f"{label} {c}" for c in self.columns[i:i + span]]
            i += span
        return names

    def to_markdown(self):
        cols = self.flat_columns()
        lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(map(str, r)) + " |" for r in self.rows]
        return "\n".join(lines)

    _repr_markdown_ = to_markdown

    def __str__(self):
        return self.to_markdown()


class Note:
    """A boxed note ("admonition") for a page, e.g. to say that the GlaS data is missing.

    Parameters
    ----------
    text : str
        The message; text between backticks is shown as code.
    title : str, optional
        Box title.

    Notes
    -----
    Renders as the HTML of a Sphinx ``note`` admonition (styled by the book's theme) and as
    Markdown elsewhere.

    Examples
    --------
    >>> Note("Run `glandseg download`.")._repr_html_()[:31]
    '<div class="admonition note"><p'
    """

    def __init__(self, text, title="Note"):
        self.text = str(text)
        self.title = str(title)

    def _repr_html_(self):
        import re

        body = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.text))
        return (
            f'<div class="admonition note"><p class="admonition-title">{html.escape(self.title)}</p>'
            f"<p>{body}</p></div>"
        )

    def _repr_markdown_(self):
        return f"**{self.title}.** {self.text}"

    def __str__(self):
        return f"{self.title}: {self.text}"


def missing_data_note(what="the figures below use synthetic images instead"):
    """The note a page shows when the GlaS data is not found (see ``glandseg.data.find_data``).

    Parameters
    ----------
    what : str, optional
        What the page does instead, appended to the message.

    Returns
    -------
    note : Note
    """
    return Note(
        "This page shows GlaS images, which are research-use only and not part of the repository. "
        "Run `glandseg download` to fetch it, or `glandseg download --from PATH` with a copy you "
        "already have, or set the environment variable `GLANDSEG_DATA` to the folder that holds "
        f"it; then rebuild the book. Until then {what}.",
        title="GlaS data not found",
    )
