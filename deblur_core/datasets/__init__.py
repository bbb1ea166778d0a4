"""The data sets this project reads: where each comes from, its layout under ``data/<name>``, its checksums.

* :mod:`~deblur_core.datasets.registry`: one :class:`DatasetSpec` per set (:data:`DATASETS`), with the
  official page, the archives to download, the expected layout as ``(glob pattern, exact count)`` checks and
  the SHA-256 of every file we can vouch for;
* :mod:`~deblur_core.datasets.verify`: checking a folder against a spec (:func:`verify` returns a
  :class:`Report`, one line per problem);
* :mod:`~deblur_core.datasets.download`: fetching archives, checking and extracting them, and moving the
  result into place atomically (:func:`download`);
* :mod:`~deblur_core.datasets.cli`: the ``deblur-datasets`` command (``list``, ``where``, ``verify``,
  ``download``).

Nothing here imports torch: the command answers at once, and the checks run on machines without it.
"""

from __future__ import annotations

from deblur_core.datasets.download import DatasetError, OfflineError, TargetExistsError, download, manual_steps
from deblur_core.datasets.registry import DATASETS, Archive, DatasetSpec, dataset
from deblur_core.datasets.verify import Report, layout_holds, sha256_file, verify

__all__ = [
    "DATASETS",
    "Archive",
    "DatasetError",
    "DatasetSpec",
    "OfflineError",
    "Report",
    "TargetExistsError",
    "dataset",
    "download",
    "layout_holds",
    "manual_steps",
    "sha256_file",
    "verify",
]
