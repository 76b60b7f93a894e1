"""The supervisor dashboard: what is happening now (services/live.py, the source /metrics reads
too), then calls, handoffs, waits, bookings and applications over 7 or 30 days."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from proxy_service.services.dashboard import PERIODS, supervisor_dashboard
from proxy_service.services.live import live_figures
from proxy_service.web import charts, pages
from proxy_service.web.security import allow

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
def dashboard(request: Request, days: str = "7", _account=Depends(allow("admin"))):
    period = int(days) if days.isdigit() and int(days) in PERIODS else 7
    data = supervisor_dashboard(request.app.state.make_uow(read_only=True), period)
    figures = {
        "calls": charts.daily_columns("每天来电数", [(d["day"], d["total"]) for d in data["calls"]["by_day"]], "通"),
        "handoffs": charts.bar_chart("转人工的原因", [(r["label"], r["count"]) for r in data["handoffs_by_reason"]], "次"),
        "bookings": charts.bar_chart("各项业务的预约", [(r["label"], r["count"]) for r in data["bookings_by_errand"]], "个"),
        "applications": charts.bar_chart("代办申请的状态",
                                         [(r["label"], r["count"]) for r in data["applications_by_status"]], "份"),
    }
    live = live_figures(request.app.state.make_uow(read_only=True))
    return pages.render(request, "dashboard.html", data=data, live=live, charts=figures, period=period,
                        periods=PERIODS)
