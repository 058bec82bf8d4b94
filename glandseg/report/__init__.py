"""The companion's reporting: everything that turns run records into what the book shows.

The paper's method lives at the top of :mod:`glandseg` (data, pre-processing, augmentation,
model, losses, training, prediction, post-processing, metrics, run records). This subpackage
reads what the method wrote and makes the tables and figures of the pages in ``book/``:

- :mod:`~glandseg.report.analysis`: tables, bootstrap intervals, the paper's claims, seed
  effects, what became of each gland (book/results.md, book/discussion.md, book/metrics.md);
- :mod:`~glandseg.report.ceiling`: a perfect network's scores (book/discussion.md);
- :mod:`~glandseg.report.sensitivity`: finished runs under other post-processing sizes
  (book/discussion.md);
- :mod:`~glandseg.report.tables`: ``Table`` and ``Note``, used by every page;
- one figure module per page: :mod:`~glandseg.report.data_figures` (book/data.md),
  :mod:`~glandseg.report.method_figures` (book/method.md, and the demo's figure),
  :mod:`~glandseg.report.metrics_figures` (book/metrics.md),
  :mod:`~glandseg.report.results_figures` (book/results.md and the experiment notebook),
  :mod:`~glandseg.report.discussion_figures` (book/discussion.md).

Imports flow one way: a module here may import the method, the method never imports
``glandseg.report`` nor matplotlib; only ``cli`` and ``demo``, on top of both, import from here,
inside their functions (``tests/test_layout.py`` checks all three rules). Import the modules
themselves (``from glandseg.report import analysis``); this package imports nothing, so
``import glandseg.report`` stays cheap.
"""
