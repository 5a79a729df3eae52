"""Data sets and transforms shared by tasks.

A data set plugin returns :class:`~zoo_core.data.sources.DatasetSplits`: class
names plus one *source* per split (a list of samples that can load one image
by index and name it in an error message). The core then filters classes,
carves seeded stratified validation/test splits, takes few-shot subsets, and
wraps each split in a torch ``Dataset`` with transforms from the backbone's
data config (:mod:`zoo_core.data.transforms`).

Only :mod:`zoo_core.data.sources` and :mod:`zoo_core.data.splits` are free of
torch; import the rest inside functions where start-up time matters.
"""
