"""gis.dialects.sqlite.point_xy: the coordinates of the WKB points SQLite stores, read in one numpy view."""

from __future__ import annotations

import numpy as np
import shapely

from gis.dialects.sqlite import point_xy


def test_points_read_as_shapely_reads_them():
    rng = np.random.default_rng(3)
    points = shapely.points(rng.uniform(112.5, 113.6, 500), rng.uniform(22.5, 23.6, 500))
    x, y = point_xy(shapely.to_wkb(points))
    assert np.array_equal(x, shapely.get_x(points)) and np.array_equal(y, shapely.get_y(points))


def test_missing_big_endian_and_other_geometries_go_through_shapely():
    blobs = np.array([shapely.to_wkb(shapely.Point(113.1, 23.2)), None,
                      shapely.to_wkb(shapely.Point(113.3, 23.4), byte_order=0),  # big-endian, also 21 bytes
                      shapely.to_wkb(shapely.LineString([(0, 0), (1, 1)]))], dtype=object)
    x, y = point_xy(blobs)
    assert x[0] == 113.1 and y[0] == 23.2 and x[2] == 113.3 and y[2] == 23.4
    assert np.isnan(x[1]) and np.isnan(y[1]) and np.isnan(x[3]) and np.isnan(y[3])
    x, y = point_xy(np.array([], dtype=object))
    assert len(x) == len(y) == 0
