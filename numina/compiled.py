"""Querysets compiled to SQL once per thread, then run with each request's values (issue 19).

Building a queryset and compiling it costs a hot read more than running it: the branch
of a retrieve takes 0.83 ms of CPU to build and compile and 0.18 ms to execute and fetch
(the conversation: 0.67 against 0.12), every request again, for the same SQL with other
values. Django keeps no compiled form of a query (SQLAlchemy's compiled cache does this
for its own), so this keeps one.

A ``CompiledQuery`` is written as a builder: a function that returns a ``values()``
queryset, built with the ORM like any other read (through ``access``, so the ownership
rule stays in its one place). On a thread's first use it is called with markers, values
of the parameters' types that no real query holds, and compiled; the positions where the
markers land in the SQL's parameters are where each later call's values go. Whatever
changes the SQL's text rather than its parameters (a column list, a LIMIT, whether a
filter applies at all) is the ``shape``: each distinct shape is compiled once.
tests/test_compiled.py holds every compiled query of the project to the SQL and the
parameters the ORM builds for the same values.

Per thread: a compiled query keeps the compiler's converters, which belong to the
thread's own connection.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import QuerySet

# Markers of ints far above any seq or count the project stores (and positive: the ORM
# refuses a negative slice before it could tell that a bound is not a parameter).
_INT_MARKERS = itertools.count(2**62)


def _marker(kind: type) -> Any:
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is int:
        return next(_INT_MARKERS)
    if kind is str:
        return f"numina-compiled-marker-{uuid.uuid4().hex}"
    raise ImproperlyConfigured(f"No marker for parameters of type {kind.__name__}.")


# How a value goes into the SQL's parameters: as it is, or (a UUID on SQLite, which
# stores them as 32 hex digits) as its hex.
_AS_IS = "value"
_HEX = "hex"


def _slot(by_value: dict[Any, tuple[str, str]], param: Any) -> tuple[str, str] | None:
    """The name and form of the value whose marker ``param`` is, or None (a constant)."""
    try:
        return by_value.get(param)
    except TypeError:  # an unhashable constant (a list): no marker
        return None


def _markers_by_value(markers: Mapping[str, Any]) -> dict[Any, tuple[str, str]]:
    by_value = {marker: (name, _AS_IS) for name, marker in markers.items()}
    by_value.update(
        {
            marker.hex: (name, _HEX)
            for name, marker in markers.items()
            if isinstance(marker, uuid.UUID)
        }
    )
    return by_value


def _forms(marker: Any) -> set[str]:
    """How a marker would read if it were written into the SQL's text."""
    forms = {str(marker)}
    if isinstance(marker, uuid.UUID):
        forms.add(marker.hex)
    return forms


def _words(sql: str) -> set[str]:
    # The SQL's runs of marker characters (letters, digits, - and _): a marker written
    # into the text is one of them whole.
    return set(re.findall(r"[\w-]+", sql))


def _value(values: Mapping[str, Any], slot: tuple[str, str]) -> Any:
    name, form = slot
    return values[name].hex if form == _HEX else values[name]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter of the SQL: the name of the value it carries and its form, or None (a
    # constant of the query, in ``constants`` at the same position).
    slots: tuple[tuple[str, str] | None, ...]
    constants: tuple[Any, ...]
    names: tuple[str, ...]
    # Django's converters of the columns that have them (position -> converters and the
    # column's expression), as SQLCompiler.results_iter applies them.
    converters: dict[int, tuple[list[Callable], Any]]
    alias: str


class CompiledQuery:
    """``build(**values, **shape)`` compiled once per shape and thread; ``rows`` runs it.

    ``params``: each value's name and type (uuid.UUID, int or str). A value must go into
    the SQL's parameters only (an id compared, a seq bounded), never change its text; a
    marker that does not come out among the parameters is refused when compiling.
    """

    def __init__(self, build: Callable[..., QuerySet], *, params: Mapping[str, type]) -> None:
        self._build = build
        self._params = dict(params)
        self._local = threading.local()

    def rows(self, *, shape: Mapping[str, Hashable] | None = None, **values: Any) -> list[dict]:
        """The rows of the query for ``values``, as the ``values()`` queryset gives them."""
        shape = shape or {}
        compiled = self._compiled(shape)
        params = self._params_for(compiled, values)
        connection = connections[compiled.alias]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        answer = []
        for fetched_row in fetched:
            row = list(fetched_row)
            for position, (converters, expression) in compiled.converters.items():
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
            answer.append(dict(zip(compiled.names, row, strict=True)))
        return answer

    def sql_with_params(
        self, *, shape: Mapping[str, Hashable] | None = None, **values: Any
    ) -> tuple[str, list]:
        """What ``rows`` sends for these values (for the tests that hold it to the ORM's)."""
        compiled = self._compiled(shape or {})
        return compiled.sql, self._params_for(compiled, values)

    def _params_for(self, compiled: _Compiled, values: Mapping[str, Any]) -> list:
        if set(values) != set(self._params):
            raise TypeError(f"Values for {sorted(self._params)}, not {sorted(values)}.")
        return [
            _value(values, slot) if slot is not None else constant
            for slot, constant in zip(compiled.slots, compiled.constants, strict=True)
        ]

    def _compiled(self, shape: Mapping[str, Hashable]) -> _Compiled:
        cache: dict[Hashable, _Compiled] = self._local.__dict__.setdefault("by_shape", {})
        key = tuple(sorted(shape.items()))
        compiled = cache.get(key)
        if compiled is None:
            compiled = cache[key] = self._compile(shape)
        return compiled

    def _compile(self, shape: Mapping[str, Hashable]) -> _Compiled:
        markers = {name: _marker(kind) for name, kind in self._params.items()}
        queryset = self._build(**markers, **shape)
        if not queryset.query.values_select:
            raise ImproperlyConfigured("A compiled query is a values() queryset of named columns.")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        by_value = _markers_by_value(markers)
        slots = tuple(_slot(by_value, param) for param in params)
        missing = set(markers) - {slot[0] for slot in slots if slot is not None}
        inlined = {name for name, marker in markers.items() if _forms(marker) & _words(sql)}
        if missing or inlined:
            raise ImproperlyConfigured(
                f"{sorted(missing | inlined)} changed the SQL's text or went missing: "
                "pass it in shape."
            )
        query = queryset.query
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
        fields = [selected[0] for selected in compiler.select[0 : compiler.col_count]]
        return _Compiled(
            sql=sql,
            slots=slots,
            constants=tuple(
                None if slot is not None else param
                for slot, param in zip(slots, params, strict=True)
            ),
            names=names,
            converters=compiler.get_converters(fields),
            alias=queryset.db,
        )
