"""Rendering: the Jinja2 environment (autoescaped), shared filters, the menu and notices."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from proxy_service.services.common import now

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

# Menu entries per role: (path, label).
MENU = {
    "staff": [("/queues", "转人工工单"), ("/bookings", "预约"), ("/review", "代办审核")],
    "worker": [("/applications", "我的代办申请"), ("/applications/new", "新建代办申请")],
    "admin": [("/dashboard", "统计"), ("/queues", "转人工工单"), ("/bookings", "预约"), ("/review", "代办审核"),
              ("/admin/users", "账号管理")],
}

# Short confirmations after a redirect (?done=code); only these fixed texts are ever shown.
NOTICES = {
    "claimed": "已接单。", "released": "已放回队列。", "resolved": "工单已办结。", "callback_scheduled": "已约好回电时间。",
    "note_added": "备注已保存。", "accepted": "已受理。", "missing_materials": "已通知补材料。", "completed": "已办结。",
    "rejected": "已退回，并写明了原因。", "filed": "申请已提交。", "already_filed": "这份申请已经提交过了，没有重复提交。",
    "user_created": "账号已建好。", "user_updated": "账号已更新。", "password_reset": "密码已重置，账号已解锁。",
    "signed_out": "您已退出登录。",
    "consent_withdrawn": "已撤回同意：预约已取消，居民的个人信息已删除。",
}


def local_time(value: datetime | str | None, with_date: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def day_label(value: date | str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return f"{value.month}月{value.day}日 星期{'一二三四五六日'[value.weekday()]}"


def minutes_text(minutes: float) -> str:
    minutes = int(abs(minutes))
    return f"{minutes // 60}小时{minutes % 60}分钟" if minutes >= 60 else f"{minutes}分钟"


def time_left(due: datetime | str) -> dict:
    """Time to an SLA deadline, said in words (never by colour alone)."""
    if isinstance(due, str):
        due = datetime.fromisoformat(due)
    left = (due - now()).total_seconds() / 60
    if left < 0:
        return {"overdue": True, "text": f"已超时{minutes_text(left)}"}
    return {"overdue": False, "text": f"还剩{minutes_text(left)}"}


TEMPLATES.env.filters.update(local_time=local_time, day_label=day_label, time_left=time_left)


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    account = getattr(request.state, "account", None)
    done = request.query_params.get("done")
    menu = MENU.get(account.role, []) if account else []
    return TEMPLATES.TemplateResponse(request, template, {
        "me": account, "csrf_token": getattr(request.state, "csrf_token", None), "menu": menu,
        "notice": NOTICES.get(done or ""), "path": request.url.path, **context,
    }, status_code=status_code)


def back_to(path: str, done: str | None = None) -> RedirectResponse:
    """Post/redirect/get: after a change, the browser loads the page fresh (303)."""
    return RedirectResponse(f"{path}?done={done}" if done else path, status_code=303)
