"""``/health``: liveness for anyone (load balancers, monitoring), without anything an attacker could use."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StoreDep

router = APIRouter()


@router.get("/health", summary="Liveness and what the store holds", tags=["service"])
def health(store: StoreDep) -> dict:
    """The backend's kind and counts: never the store's path, URL, user or host."""
    return {"status": "ok", "backend": store.dialect.name, "alerts": store.count_alerts(),
            "scenes": len(store.scenes("ok")), "data_version": store.data_version()}
