"""Admin change lists that stay fast on tables of 100,000+ rows.

Django's change list counts the whole filtered table for its paginator and
(unless show_full_result_count=False) the unfiltered one too; on PostgreSQL a
COUNT(*) reads every row. CappedCountPaginator counts at most CAP rows (a
LIMITed subquery): past that the list says "10,000+" pages' worth and still
pages through the first CAP rows; filters narrow it down.
"""

from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        query = self.object_list
        if not hasattr(query, "query"):  # a list, not a queryset
            return len(query)
        return query.order_by()[:COUNT_CAP].count()


class LargeTableAdmin(admin.ModelAdmin):
    """A model admin for tables that grow with the corpus: set
    list_select_related for every foreign key the list shows."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    # Newest first by primary key: a walk down the pk index whatever the filter
    # (a model's Meta ordering, e.g. by video then start, sorted the table).
    ordering = ("-pk",)
