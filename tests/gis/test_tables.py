"""Table metadata comes from the models (gis.tables), and the loaders use it (issue 17)."""

from __future__ import annotations

from gis import tables
from gis.models import Base
from loaders import city, mapping, pipeline


def test_the_write_order_puts_every_table_after_what_it_references():
    order = tables.write_order(set(Base.metadata.tables))
    assert sorted(order) == sorted(Base.metadata.tables)
    assert all(type(name) is str for name in order + tables.columns("customers"))  # GDAL takes only str
    for name in order:
        for fk in tables.table(name).foreign_keys:
            target = fk.column.table.name
            assert target == name or order.index(target) < order.index(name), (name, target)
    for name, column, target in tables.UNDECLARED_REFERENCES:  # the cycles: loaded in one transaction
        assert column in tables.columns(name) and target in order


def test_every_loader_list_is_the_models():
    assert tables.LOADED_TABLES[-1] == "customers" and city.LAYER_ORDER == tables.GRID_TABLES
    assert mapping.TABLE_ORDER == tables.LOADED_TABLES
    assert mapping.ID_COLUMN == {"customers": "account_no", **{t: "id" for t in tables.GRID_TABLES}}
    assert mapping.GEOMETRY_TYPES["segments"] == "LineString" and "feeders" not in mapping.GEOMETRY_TYPES
    declared = {(t, fk.parent.name, fk.column.table.name) for t in tables.LOADED_TABLES
                for fk in tables.table(t).foreign_keys}
    assert set(pipeline.REFERENCES) == declared | set(tables.UNDECLARED_REFERENCES)
    assert mapping.target_columns("customers") == tuple(c.name for c in tables.table("customers").columns if c.name != "geom")


def test_required_columns_are_the_not_null_columns_without_defaults():
    assert tables.required_columns("switches") == ("id", "kind", "node_a", "node_b")  # normal_open has a default
    assert tables.required_columns("customers") == ("account_no", "name", "category", "location_quality")
    assert [tuple(r) for r in tables.references("feeders")] == [
        ("feeders", "substation_id", "substations", False), ("feeders", "head_switch_id", "switches", True)]


def test_the_pandapower_import_writes_in_the_models_order():
    from loaders.pandapower_net import WRITE_ORDER

    assert WRITE_ORDER == ("substations", "nodes", "segments", "switches", "transformers", "customers")
