"""Where to plant again and what happened to what was planted: confirmed forest-loss alerts as candidate
replanting sites, and per planting lot the loss alerts that touched it since its planting date, with the lot's
status from the imagery (``geo.workflow.lot_growth``) for the lot listings and exports."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import shapely

from geo.query import Query
from geo.region import Region
from geo.store import Store
from geo.workflow.lot_growth import lots_growth
from geo.workflow.places import admin_units
from geo.workflow.planting import list_lots

# An alert a reviewer dismissed is no loss; every other status is (confirmed) or may be (not yet reviewed).
LOSS_STATUSES = ("new", "assigned", "in_field", "confirmed")


def candidates(store: Store, region: Region) -> dict:
    """Confirmed-loss alerts as candidate replanting sites, largest first: id, area (ha), cause, first detection,
    the commune (the unit of the newest boundary version holding the alert) and the 2024 district, the centroid,
    and the lots planted on it since (``replanted_by``). With the candidates' total area."""
    alerts = store.query_alerts(Query(filters={"status": ("confirmed",)}))
    lots = list_lots(store)
    out = []
    for alert in alerts.itertuples(index=False):
        units = admin_units(region, alert.geometry)
        newest = units[-1] if units else None
        point = shapely.point_on_surface(alert.geometry)
        lon = alert.centroid_lon if alert.centroid_lon is not None else point.x
        lat = alert.centroid_lat if alert.centroid_lat is not None else point.y
        replanted = [lot.lot_id for lot in lots.itertuples(index=False)
                     if str(lot.planted) >= str(alert.first_detected) and lot.geometry.intersects(alert.geometry)]
        out.append({"alert_id": alert.id, "area_ha": round(float(alert.area_ha or 0), 4), "cause": alert.cause,
                    "first_detected": str(alert.first_detected), "case_id": alert.case_id,
                    "commune": {"id": newest["id"], "name": newest["name"], "kind": newest["kind"]} if newest else None,
                    "district_id": alert.district_id, "district": alert.district,
                    "centroid": [round(float(lon), 6), round(float(lat), 6)], "replanted_by": replanted})
    out.sort(key=lambda c: (-c["area_ha"], c["alert_id"]))
    return {"candidates": out, "count": len(out), "area_ha": round(sum(c["area_ha"] for c in out), 4)}


def loss_alerts_by_lot(store: Store, lots: gpd.GeoDataFrame) -> dict[str, list[str]]:
    """Per lot id, the ids of the loss alerts (not dismissed) overlapping the lot and first detected on or after
    its planting date."""
    out: dict[str, list[str]] = {lot_id: [] for lot_id in lots["lot_id"]}
    if not len(lots):
        return out
    alerts = store.query_alerts(Query(bbox=tuple(lots.total_bounds), filters={"status": LOSS_STATUSES}))
    for lot in lots.itertuples(index=False):
        for alert in alerts.itertuples(index=False):
            if str(alert.first_detected) >= str(lot.planted)[:10] and alert.geometry.intersects(lot.geometry):
                out[lot.lot_id].append(alert.id)
    return out


def lots_with_state(store: Store, as_of: date, year: int | None = None) -> gpd.GeoDataFrame:
    """The register's lots (planted in ``year``, or all) with their status and green share on ``as_of`` and their
    loss alerts since planting (``loss_alert_count``, ``loss_alerts`` as comma-separated ids): what the lot
    listing and the exports carry."""
    lots = list_lots(store, year)
    grown = {g["lot_id"]: g for g in lots_growth(store, as_of, year=year)["lots"]}
    losses = loss_alerts_by_lot(store, lots)
    lots["status"] = [grown[i]["status"] for i in lots["lot_id"]]
    lots["green_share"] = [grown[i]["green_share"] for i in lots["lot_id"]]
    lots["green_ha"] = [grown[i]["green_ha"] for i in lots["lot_id"]]
    lots["last_observed"] = [grown[i]["last_observed"] for i in lots["lot_id"]]
    lots["loss_alert_count"] = [len(losses[i]) for i in lots["lot_id"]]
    lots["loss_alerts"] = [",".join(losses[i]) for i in lots["lot_id"]]
    return lots
