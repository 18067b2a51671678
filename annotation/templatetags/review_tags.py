from django import template

from annotation.ties import tied_categories

register = template.Library()


@register.filter
def tied_top(categories) -> list[str]:
    """{category: n} -> the tied top categories, [] when one category leads."""
    return tied_categories(categories or {})
