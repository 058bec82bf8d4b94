"""glandseg: gland segmentation in H&E colon histology with LinkNet (paper companion)."""

__version__ = "0.1.0"
