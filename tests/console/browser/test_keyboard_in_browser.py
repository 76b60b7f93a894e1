"""In Chromium, keyboard only: sign in, open a queue and a ticket, claim it — in a sensible
focus order, with a focus ring that can be seen at every step."""
from __future__ import annotations

from proxy_service.services import tickets
from tests.console.conftest import PASSWORD
from tests.proxy.builders import ticket_request

FOCUSED = """() => {
    const e = document.activeElement, style = getComputedStyle(e);
    return {tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || "").trim(),
            label: e.labels && e.labels.length ? e.labels[0].innerText.trim() : (e.getAttribute("aria-label") || ""),
            ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2};
}"""


def tab_until(page, wanted, limit: int = 80) -> list[dict]:
    """Press Tab until `wanted(focused)`; every stop on the way must show its focus ring."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        stops.append(focused)
        assert focused["ring"], f"no visible focus on {focused}"
        if wanted(focused):
            return stops
    raise AssertionError(f"never reached by Tab: {stops}")


def test_sign_in_open_a_ticket_and_claim_it_with_the_keyboard_only(browser, api_url, console_users, console_uow):
    ticket = tickets.create_ticket(console_uow(), ticket_request(), actor="test")
    context = browser.new_context(base_url=api_url, locale="zh-CN")
    page = context.new_page()
    page.goto("/login")

    stops = tab_until(page, lambda f: f["label"].startswith("用户名"))
    assert stops[0]["text"] == "跳到正文"                           # the skip link comes first
    page.keyboard.type(console_users["staff"])
    tab_until(page, lambda f: f["label"].startswith("密码"))
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/queues")

    tab_until(page, lambda f: f["text"] == ticket["queue_name"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queues/{ticket['queue']}")
    tab_until(page, lambda f: f["label"] == f"打开工单 {ticket['reference']}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{ticket['id']}")
    stops = tab_until(page, lambda f: f["tag"] == "button" and f["text"] == "接单")
    assert [s["text"] for s in stops].index("退出登录") < len(stops) - 1   # header before the page's work
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{ticket['id']}?done=claimed")
    assert page.get_by_role("status").inner_text() == "已接单。"
    with console_uow() as uow:
        assert uow.tickets.get(ticket["id"]).assignee == console_users["staff"]
    context.close()
