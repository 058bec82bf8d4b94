"""Tests for glandseg.report.tables: Table and Note."""

import pytest

from glandseg.report import tables


def test_book_note_renders_code_and_escapes_html():
    note = tables.Note("Run `glandseg download` <now>", title="Data")
    out = note._repr_html_()
    assert '<p class="admonition-title">Data</p>' in out
    assert "<code>glandseg download</code>" in out and "&lt;now&gt;" in out
    assert note._repr_markdown_() == "**Data.** Run `glandseg download` <now>"
    assert "`glandseg download`" in tables.missing_data_note().text


def test_table_groups_must_cover_the_columns():
    with pytest.raises(ValueError, match="groups span 2 columns, the table has 3"):
        tables.Table(["a", "b", "c"], [], groups=[("x", 2)])
    table = tables.Table(["a", "b", "c"], [[1, 2, 3]], groups=[(None, 1), ("x", 2)])
    assert table.flat_columns() == ["a", "x b", "x c"]
    assert table._repr_html_().count("</th>") == 4
