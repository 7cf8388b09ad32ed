"""A scenario's district after an edit that leaves the trees alone reuses the baseline's
tree table and canopy leaf-area course (they depend only on the trees); an edit of the
trees gets its own."""

from __future__ import annotations

import numpy as np
from greentwin.twin.district import District, canopy_lai_course, canopy_lai_on, course_dates
from gt_testing import CITYGML


def test_tree_derived_grids_are_shared_only_by_the_same_trees() -> None:
    base = District.load_demo(CITYGML)
    year = base.survey_date.year
    same = base.replace(trees=(*base.trees,))  # a new District and tuple, same trees
    assert same is not base and same.trees is not base.trees
    assert same.tree_table() is base.tree_table()
    course = canopy_lai_course(base, year)
    assert canopy_lai_course(same, year) is course
    assert not course.flags.writeable  # shared: nobody may change it in place

    fewer = base.replace(trees=base.trees[1:])
    assert fewer.tree_table() is not base.tree_table()
    other = canopy_lai_course(fewer, year)
    assert other is not course
    fresh = np.stack([canopy_lai_on(fewer, d) for d in course_dates(year)])  # not cached
    assert np.array_equal(other, fresh) and not np.array_equal(other, course)
    assert canopy_lai_course(base, year + 1) is not course  # another year, its own course


def test_the_baseline_table_is_found_after_other_tables_came_and_went() -> None:
    """A long-lived District's table stays findable however many other tree sets were
    tabled since (the cache keeps the most recently used, not the first made)."""
    base = District.load_demo(CITYGML)
    table = base.tree_table()
    for k in range(1, 12):  # more tree sets than the cache holds
        base.replace(trees=base.trees[k:]).tree_table()
        assert base.tree_table() is table
    same = base.replace(trees=(*base.trees,))
    assert same.tree_table() is table
