"""Tables of records (lesions, outlets) that are pandas DataFrames when pandas is installed.

``r.lesions`` is a :class:`pandas.DataFrame` in a notebook (sorting, filtering, ``to_csv``,
pretty display), and still behaves like the list of dicts that scripts iterate over::

    for les in r.lesions:                 # one dict per row, as before
        print(les["vessel"], les["ffr_distal"])
    r.lesions[0]["ffr_distal"]            # a row by position (an int that is not a column)
    r.lesions["ffr_distal"]               # a column (pandas)
    r.lesions.sort_values("ffr_distal")   # pandas; derived frames are plain DataFrames

Without pandas the same call returns a plain list of dicts.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

try:  # pandas is optional: the solver stack must import without it
    import pandas as _pd
except ImportError:  # pragma: no cover - exercised where pandas is absent
    _pd = None


def _native(v: Any) -> Any:
    """numpy scalars → Python scalars (so rows compare and serialise like the original dicts)."""
    item = getattr(v, "item", None)
    if item is not None and getattr(v, "shape", None) == ():
        return item()
    return v


if _pd is not None:
    class RecordFrame(_pd.DataFrame):
        """A DataFrame whose iteration yields its rows as dicts (see the module docstring).

        Iteration from inside pandas (and numpy) keeps the DataFrame meaning (column labels), so
        formatting, reductions and conversions work unchanged.

        Integer keys that are not column labels select a row (``frame[0]`` → dict); every other key
        is a column lookup as usual. Derived frames (``sort_values``, ``query``, slices) are plain
        :class:`pandas.DataFrame` objects.
        """

        _metadata: list[str] = []

        @property
        def _constructor(self):
            return _pd.DataFrame

        def records(self) -> list[dict]:
            """The rows as a list of dicts (Python scalars)."""
            cols = list(self.columns)
            return [{c: _native(v) for c, v in zip(cols, row)} for row in self.itertuples(index=False, name=None)]

        def __iter__(self):
            # pandas itself iterates a frame to get its column labels (formatting, reductions, ...):
            # give pandas what it expects and everybody else the rows
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith(("pandas", "numpy")):
                return super().__iter__()
            return iter(self.records())

        def __getitem__(self, key):
            if isinstance(key, int) and not isinstance(key, bool) and key not in self.columns:
                return self.records()[key]
            return super().__getitem__(key)

        def __bool__(self) -> bool:
            return len(self) > 0

        def __eq__(self, other):
            if isinstance(other, list):
                return self.records() == other
            return super().__eq__(other)

        __hash__ = None
else:  # pragma: no cover
    RecordFrame = None


def record_table(records: Sequence[dict], columns: Sequence[str] = ()):
    """A :class:`RecordFrame` of ``records`` (columns in ``columns`` order first), or the list itself
    when pandas is not installed."""
    records = list(records)
    if _pd is None:
        return records
    cols = list(columns)
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    frame = RecordFrame({c: [r.get(c) for r in records] for c in cols}, columns=cols)
    return frame


def as_records(table) -> list[dict]:
    """A list of dicts from a table (RecordFrame, DataFrame or list of dicts)."""
    if isinstance(table, list):
        return table
    if RecordFrame is not None and isinstance(table, RecordFrame):
        return table.records()
    if _pd is not None and isinstance(table, _pd.DataFrame):
        return [{k: _native(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    return list(table)
