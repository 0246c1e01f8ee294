"""Inserting many new model rows with PostgreSQL's COPY instead of ``bulk_create``.

``bulk_create`` builds one INSERT with a parameter per field per row (22 for a
conversation) and psycopg then converts every one of them: for the legacy migration's
10,000 new conversations a batch that cost more than COPYing their messages. COPY takes
the same values, prepared by each field exactly as ``bulk_create`` prepares them
(``pre_save`` and ``get_db_prep_save``), as a stream, with no SQL to build. Django has no
COPY of its own and django-postgres-copy works from CSV files, not model instances, so
this is the few lines it takes.

Only for rows whose primary key is set before the insert or left to the database (an
auto field, which the objects then do not learn: callers here never read it). Anything
but PostgreSQL (the embedded SQLite default) gets ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, connections, models


def insert(objects: Sequence[models.Model], *, batch_size: int = 2000) -> None:
    """Insert ``objects`` (all of one model, none stored yet) in the current transaction."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects, batch_size=batch_size)  # noqa: SLF001
        return
    fields = [
        field
        for field in model._meta.concrete_fields
        if not isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)
    ]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    # The connection itself, not the ``connection`` proxy: every field asks for it, and
    # each attribute read through the proxy costs a lookup of the thread's connection.
    database = connections[connection.alias]
    database.ensure_connection()
    with (
        database.connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for instance in objects:
            copy.write_row(
                [
                    field.get_db_prep_save(field.pre_save(instance, add=True), database)
                    for field in fields
                ]
            )
    # What bulk_create records on each object: it is a stored row now (a save() updates).
    for instance in objects:
        instance._state.adding = False  # noqa: SLF001 (Django's own per-instance state)
        instance._state.db = database.alias  # noqa: SLF001
