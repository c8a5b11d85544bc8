"""The audit log: every clip played and every live listen, by whom and for how
long (``GET /api/audit``, supervisors only, newest first, at most ``limit``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from monitor.hub.routes.deps import StoreDep, SupervisorDep

router = APIRouter()


@router.get("/api/audit")
async def audit(user: SupervisorDep, store: StoreDep,
                limit: int = Query(500, ge=1, le=10000)) -> dict[str, Any]:
    return {"audit": store.audit_log(limit)}
