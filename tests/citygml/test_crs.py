"""srsName parsing: every form found in the samples and the general families."""

from __future__ import annotations

import pytest
from greentwin.citygml.crs import axis_swap, parse_srs_name
from greentwin.citygml.model import SourceCRS
from greentwin.core.errors import CRSError
from hypothesis import given
from hypothesis import strategies as st

HORIZONTAL = [25832, 25833, 3068, 4326, 4258, 31467, 2056, 3857, 28992]
VERTICAL = [5783, 7837, 5784, 5701, 3855]


@pytest.mark.parametrize(
    ("text", "h", "v"),
    [
        ("EPSG:25833", 25833, None),
        ("urn:ogc:def:crs:EPSG::25833", 25833, None),
        ("urn:ogc:def:crs:EPSG:6.12:25833", 25833, None),
        ("EPSG:3068+5783", 3068, 5783),
        ("urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::5783", 25833, 5783),
        ("urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783", 25833, 5783),
        ("urn:ogc:def:crs,crs:EPSG:6.12:3068,crs:EPSG:6.12:5783", 3068, 5783),
        ("urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH", 25832, 5783),
        ("urn:adv:crs:ETRS89_UTM33*DE_DHHN2016_NH", 25833, 7837),
        ("urn:adv:crs:ETRS89_UTM33", 25833, None),
        ("http://www.opengis.net/def/crs/EPSG/0/25832", 25832, None),
        ("http://www.opengis.net/gml/srs/epsg.xml#4326", 4326, None),
    ],
)
def test_known_forms(text: str, h: int, v: int | None) -> None:
    assert parse_srs_name(text) == SourceCRS(text, h, v)


@pytest.mark.parametrize(
    "text",
    ["", "EPSG:999999", "urn:adv:crs:NOWHERE_UTM99", "local", "EPSG:5783", "EPSG:25833+25832"],
)
def test_unknown_forms_raise(text: str) -> None:
    with pytest.raises(CRSError, match="--crs"):
        parse_srs_name(text)


def test_axis_swap_only_for_latitude_first_geographic() -> None:
    assert axis_swap(parse_srs_name("EPSG:4326"))
    assert axis_swap(parse_srs_name("urn:ogc:def:crs:EPSG::4258"))
    assert not axis_swap(parse_srs_name("EPSG:25833"))
    assert not axis_swap(parse_srs_name("EPSG:3068"))


@given(
    h=st.sampled_from(HORIZONTAL),
    v=st.one_of(st.none(), st.sampled_from(VERTICAL)),
    version=st.sampled_from(["", "6.12", "9.0.0"]),
    form=st.sampled_from(["plain", "urn", "http"]),
)
def test_forms_roundtrip(h: int, v: int | None, version: str, form: str) -> None:
    if form == "plain":
        text = f"EPSG:{h}" + (f"+{v}" if v else "")
    elif form == "urn":
        text = (
            f"urn:ogc:def:crs,crs:EPSG:{version}:{h},crs:EPSG:{version}:{v}"
            if v
            else f"urn:ogc:def:crs:EPSG:{version}:{h}"
        )
    else:
        base = "http://www.opengis.net/def/crs/EPSG/0/"
        text = (
            f"http://www.opengis.net/def/crs-compound?1={base}{h}&2={base}{v}"
            if v
            else f"{base}{h}"
        )
    crs = parse_srs_name(text)
    assert (crs.horizontal_epsg, crs.vertical_epsg) == (h, v)
    assert crs.srs_name == text
    assert crs.pyproj_definition == (f"EPSG:{h}+{v}" if v else f"EPSG:{h}")


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_crserror(text: str) -> None:
    try:
        crs = parse_srs_name(text)
    except CRSError:
        return
    assert crs.horizontal_epsg > 0
