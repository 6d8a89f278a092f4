"""``gridatlas locate`` as an operator runs it (a real subprocess), on both stores."""

from __future__ import annotations

import json

from tests.api.test_cli import run


def test_locate_prints_ranked_matches_masked_by_default(city_store_url):
    r = run("locate", "131-2628-2696", db=city_store_url)
    assert r.returncode == 0, r.stderr
    assert "1 match(es) for '131-2628-2696' (read as phone)" in r.stderr
    assert r.stdout.splitlines() == ["0300100001\t周家帆\t131****2696\t佛山市禅城区纺织路*号*栋***\tphone 1.00\t113.110692,23.005651"]
    r = run("locate", "周家帆", "--show-pii", "--json", db=city_store_url)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert (body["shape"], body["count"]) == ("name", 1)
    assert body["data"][0]["phone"] == "13126282696" and body["data"][0]["matched"] == "name"


def test_locate_an_unknown_caller_lists_suggestions(city_store_url):
    r = run("locate", "纺织路4号9栋9999", "--limit", "3", db=city_store_url)
    assert r.returncode == 0, r.stderr
    assert "no customer matches" in r.stderr and "nearest by address" in r.stderr
    assert len(r.stdout.splitlines()) == 3


def test_locate_refuses_an_empty_query_naming_the_field(city_store_url):
    r = run("locate", "  ", db=city_store_url)
    assert r.returncode == 2
    assert "empty" in r.stderr and "field='q'" in r.stderr
