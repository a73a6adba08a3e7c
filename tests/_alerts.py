"""Alerts made for the bridge tests: VOEvents with a position, GCN JSON notices."""

from __future__ import annotations

from typing import Any


def voevent_xml(
    ivorn: str,
    c1: str | float,
    c2: str | float,
    *,
    system: str = "UTC-ICRS-TOPO",
    role: str = "observation",
    unit: str = "deg",
    error: str | float | None = "0.01",
) -> bytes:
    """A VOEvent 2.0 document whose WhereWhen holds one Position2D."""
    err = f"<Error2Radius>{error}</Error2Radius>" if error is not None else ""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" role="{role}"
    ivorn="{ivorn}">
  <Who><AuthorIVORN>ivo://skyhop.test/bridge</AuthorIVORN><Date>2024-05-01T13:45:00</Date></Who>
  <What><Param name="magnitude" value="19.8"/></What>
  <WhereWhen>
    <ObsDataLocation>
      <ObservatoryLocation id="GEOSURFACE"/>
      <ObservationLocation>
        <AstroCoordSystem id="{system}"/>
        <AstroCoords coord_system_id="{system}">
          <Time unit="s"><TimeInstant><ISOTime>2024-05-01T13:42:10.50</ISOTime></TimeInstant></Time>
          <Position2D unit="{unit}">
            <Name1>RA</Name1><Name2>Dec</Name2>
            <Value2><C1>{c1}</C1><C2>{c2}</C2></Value2>
            {err}
          </Position2D>
        </AstroCoords>
      </ObservationLocation>
    </ObsDataLocation>
  </WhereWhen>
</voe:VOEvent>
""".encode()


def gcn_json_notice(ra: Any, dec: Any, error: Any = 0.05, **extra: Any) -> dict[str, Any]:
    """A GCN notice in the unified JSON schema's shape."""
    notice = {
        "$schema": "https://gcn.nasa.gov/schema/v4.0.0/gcn/notices/core/Alert.schema.json",
        "mission": "SkyhopSat",
        "instrument": "XRT",
        "alert_type": "initial",
        "id": ["trigger-4242"],
        "trigger_time": "2024-05-01T12:00:00Z",
        "ra": ra,
        "dec": dec,
        "ra_dec_error": error,
    }
    notice.update(extra)
    return notice
