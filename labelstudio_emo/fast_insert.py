"""INSERT of a new model instance without the ORM's per-call compile step.

`Model.save()` builds and compiles an INSERT each time; on the annotation
hot path (an assignment per `next`, a label and its history per submit) that
cost more than the write itself. This does what `_do_insert` does for a
plain row: each field's `pre_save` (auto_now_add, defaults already set by
the constructor) and `get_db_prep_save`, one cached statement, the new id,
with the save signals sent as `save()` sends them (no receiver is skipped).
"""

from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.db.models.signals import post_save, pre_save


@lru_cache(maxsize=None)
def _statement(model: type[Model], alias: str, returning: bool) -> tuple[str, tuple]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    quote = connections[alias].ops.quote_name
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    if returning:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, fields


def insert(instance: Model) -> Model:
    """Write a new instance (its pk set afterwards, like `save()`); raises IntegrityError like `save()`.
    Sends pre_save / post_save (created=True) as `save()` does, so receivers see every row."""
    model = type(instance)
    connection = connections[DEFAULT_DB_ALIAS]  # this thread's wrapper, looked up once (not per field)
    if pre_save.has_listeners(model):
        pre_save.send(sender=model, instance=instance, raw=False, using=connection.alias, update_fields=None)
    returning = connection.features.can_return_columns_from_insert
    sql, fields = _statement(model, connection.alias, returning)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
    if post_save.has_listeners(model):
        post_save.send(sender=model, instance=instance, created=True, update_fields=None, raw=False,
                       using=connection.alias)
    return instance
