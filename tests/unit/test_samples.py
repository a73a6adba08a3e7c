"""The demo's own alerts and the multi-order sky map FITS writer behind the IGWN one."""

from __future__ import annotations

import base64
import itertools
import math

import pytest

from hop import _codec, _samples
from hop._skymap import (
    Pixel,
    nuniq,
    pixel_area,
    read_moc_fits,
    uniq_order,
    write_moc_fits,
)
from hop.models import GCNCircular, JSONBlob, VOEvent


def _cells(pixels: list[Pixel]) -> list[tuple[int, int]]:
    """Each pixel as the range of finest-order NESTED indices it covers."""
    finest = max(uniq_order(p.uniq) for p in pixels)
    out = []
    for p in pixels:
        order = uniq_order(p.uniq)
        ipix = p.uniq - 4 * 4**order
        scale = 4 ** (finest - order)
        out.append((ipix * scale, (ipix + 1) * scale))
    return sorted(out)


def test_sample_alerts_are_an_igwn_alert_a_voevent_and_a_circular() -> None:
    kinds = [type(model) for _, model in _samples.sample_alerts()]
    assert kinds == [JSONBlob, VOEvent, GCNCircular]


@pytest.mark.parametrize(("label", "model"), _samples.sample_alerts())
def test_every_sample_alert_survives_the_wire(label: str, model: object) -> None:
    payload, headers = _codec.pack(model)
    assert _codec.unpack(payload, headers) == model, label


def test_sample_circular_reads_back_from_its_text_form() -> None:
    circular = _samples.gcn_circular()
    assert GCNCircular.load(str(circular)) == circular


def test_sample_voevent_has_a_sky_position_in_degrees() -> None:
    event = VOEvent.deserialize(bytes(_samples.voevent()))
    position = event.WhereWhen["ObsDataLocation"]["ObservationLocation"]["AstroCoords"][
        "Position2D"
    ]
    assert position["unit"] == "deg"
    assert (float(position["Value2"]["C1"]), float(position["Value2"]["C2"])) == (51.3281, 4.1837)


def test_sample_skymap_tiles_the_sphere_once_and_holds_probability_one() -> None:
    pixels = _samples.skymap_pixels()
    cells = _cells(pixels)
    finest = max(uniq_order(p.uniq) for p in pixels)
    # Sorted ranges that touch end to start and cover every finest pixel: no gap, no overlap.
    assert cells[0][0] == 0 and cells[-1][1] == 12 * 4**finest
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cells))
    total = sum(p.probdensity * pixel_area(uniq_order(p.uniq)) for p in pixels)
    assert total == pytest.approx(1.0, rel=1e-12)


def test_sample_skymap_is_densest_where_the_voevent_is() -> None:
    densest = max(_samples.skymap_pixels(), key=lambda p: p.probdensity)
    # NESTED pixel 23274 at order 6 holds RA 51.3281, Dec 4.1837; its parent at order 6
    # is one of the four densest pixels.
    assert uniq_order(densest.uniq) == 6
    assert (densest.uniq - 4 * 4**6) // 4 == 23274 // 4


def test_igwn_alert_carries_the_skymap_as_base64_fits() -> None:
    alert = _samples.igwn_alert().content
    fits = base64.b64decode(alert["event"]["skymap"])
    cards, pixels = read_moc_fits(fits)
    assert pixels == _samples.skymap_pixels()
    assert cards["ORDERING"] == "NUNIQ" and cards["OBJECT"] == alert["superevent_id"]
    assert len(fits) == 3 * 2880


def test_fits_writer_pads_to_blocks_and_writes_standard_cards() -> None:
    pixels = [Pixel(nuniq(0, i), 1 / (4 * math.pi), 100.0, 10.0, 1e-4) for i in range(12)]
    data = write_moc_fits(pixels, {"OBJECT": "it's", "RUNTIME": 1e-05, "FLAG": False})
    assert len(data) % 2880 == 0
    header = data[2880 : 2 * 2880].decode("ascii")
    cards = [header[i : i + 80] for i in range(0, len(header), 80)]
    assert cards[0] == "XTENSION= 'BINTABLE'           / binary table extension".ljust(80)
    assert "OBJECT  = 'it''s   '".ljust(80) in cards
    assert "RUNTIME =              1.0E-05".ljust(80) in cards
    assert "FLAG    =                    F".ljust(80) in cards
    got_cards, got = read_moc_fits(data)
    assert got == pixels and got_cards["OBJECT"] == "it's"


def test_fits_writer_refuses_a_card_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="too long"):
        write_moc_fits([], {"OBJECT": "x" * 80})


@pytest.mark.parametrize(("order", "ipix"), [(0, 0), (0, 11), (3, 767), (29, 12 * 4**29 - 1)])
def test_nuniq_and_uniq_order_are_inverse(order: int, ipix: int) -> None:
    assert uniq_order(nuniq(order, ipix)) == order


@pytest.mark.parametrize(("order", "ipix"), [(-1, 0), (0, 12), (1, -1)])
def test_nuniq_refuses_pixels_that_do_not_exist(order: int, ipix: int) -> None:
    with pytest.raises(ValueError, match="no HEALPix pixel"):
        nuniq(order, ipix)


def test_reader_refuses_other_files() -> None:
    with pytest.raises(ValueError, match="not a FITS file"):
        read_moc_fits(b"GIF89a")


def test_demo_writes_its_alerts_as_files_hop_publish_reads(tmp_path, capsys) -> None:
    from hop import demo
    from hop.cli._formats import formats

    assert demo.main(["--write-alerts", str(tmp_path / "alerts")]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / "alerts" / name) for name in demo.ALERT_FILES.values()]
    expected = dict(_samples.sample_alerts())
    kinds = (("IGWN alert", "JSON"), ("VOEvent", "VOEVENT"), ("GCN circular", "CIRCULAR"))
    for label, fmt in kinds:
        path = tmp_path / "alerts" / demo.ALERT_FILES[label]
        loaded = formats()[fmt].load_file(str(path))
        assert loaded.serialize() == expected[label].serialize(), label


def test_demo_reports_an_unwritable_folder_in_one_line(tmp_path, capsys) -> None:
    from hop import demo

    blocker = tmp_path / "file"
    blocker.write_text("")
    assert demo.main(["--write-alerts", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hop demo: error: ") and err.count("\n") == 1
