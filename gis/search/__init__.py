"""Locating a caller: phone, 尾号, 户号, 户名, pinyin and address search on both stores.

:func:`search_customers` is the one entry point; :func:`reindex_customers` keeps the
derived search rows in step with ``customers`` (a city load calls it in its transaction);
:func:`build_caller_index` builds the in-memory exact index a snapshot carries.
"""

from gis.search.engine import ITEM_FIELDS, MATCHED, Match, SearchResult, search_customers, search_in_memory
from gis.search.memory import CallerIndex, build_caller_index
from gis.search.normalize import Query, parse_query
from gis.search.reindex import reindex_customers

__all__ = [
    "search_customers",
    "search_in_memory",
    "reindex_customers",
    "build_caller_index",
    "CallerIndex",
    "SearchResult",
    "Match",
    "Query",
    "parse_query",
    "ITEM_FIELDS",
    "MATCHED",
]
