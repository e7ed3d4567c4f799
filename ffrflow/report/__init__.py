"""HTML pages a reader opens in a browser: the case report and the batch dashboard.

- :func:`write_case_report` (``report.html`` in a case folder; :mod:`ffrflow.report.case`)
- :class:`Dashboard` (``index.html`` and ``index-data.js`` in a batch output folder;
  :mod:`ffrflow.report.dashboard`)

Both are plain HTML with inline CSS and JavaScript: nothing is fetched when they are viewed (no CDN,
no web font); docs/formats.md §Case report and §Batch dashboard say what they contain.
"""

from .case import build_case_report, write_case_report
from .dashboard import Dashboard, write_dashboard

__all__ = ["build_case_report", "write_case_report", "Dashboard", "write_dashboard"]
