"""The companion's reporting: everything that turns run records into what the book shows.

The paper's method lives at the top of :mod:`glandseg` (data, pre-processing, augmentation,
model, losses, training, prediction, post-processing, metrics, run records). This subpackage
reads what the method wrote and makes the book's tables and figures from it, serving the
pages in ``book/``. Imports flow one way: a module here may import the method, the method
never imports ``glandseg.report`` (``tests/test_layout.py`` checks it).

Import the modules themselves (``from glandseg.report import analysis``); this package
imports nothing, so ``import glandseg.report`` stays cheap.
"""
