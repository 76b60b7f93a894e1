"""Staff pages: queues, the ticket page and its actions, the day's bookings (TestClient, real SQLite)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from proxy_service.crypto import decrypt, mask_name
from proxy_service.services import bookings, tickets
from proxy_service.services.common import now
from proxy_service.services.residents import ResidentInput
from tests.console.conftest import post_form
from tests.proxy.builders import bookable_day, booking_request, random_phone, ticket_request


@pytest.fixture(scope="module")
def staff(as_role) -> TestClient:
    return as_role("staff")


@pytest.fixture(scope="module")
def other_staff(as_role) -> TestClient:
    return as_role("staff")


def new_ticket(uow_factory, **changes) -> dict:
    return tickets.create_ticket(uow_factory(), ticket_request(**changes), actor="assistant")


def set_columns(uow_factory, ticket_id: int, **values) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with uow_factory() as uow:
        uow.session.execute(text(f"UPDATE handoff_tickets SET {assignments} WHERE id = :id"),
                            {**values, "id": ticket_id})
        uow.commit()


def stored(uow_factory, ticket_id: int) -> dict:
    return tickets.get_ticket(uow_factory(), ticket_id)


def audit_actions(uow_factory, ticket_id: int) -> list[tuple[str, str, dict | None]]:
    with uow_factory() as uow:
        return [(e.action, e.actor, e.details) for e in uow.audit.for_entity("handoff_tickets", ticket_id)]


def note_bodies(uow_factory, ticket_id: int) -> list[str]:
    with uow_factory() as uow:
        return [n.body for n in uow.notes.for_ticket(ticket_id)]


def act(client: TestClient, ticket_id: int, action: str, **fields):
    return post_form(client, f"/tickets/{ticket_id}/actions", {"action": action, **fields},
                     token_from=f"/tickets/{ticket_id}")


def queue_count(page: str, code: str) -> int:
    return int(re.search(rf'href="/queues/{code}">[^<]+</a></h2>\s*<p><span class="count">(\d+)', page).group(1))


# ---- who may come in -----------------------------------------------------------------------

def test_community_workers_are_refused_every_staff_page(as_role, uow_factory):
    worker = as_role("worker")
    view = new_ticket(uow_factory)
    for path in ("/queues", "/queues/x", f"/tickets/{view['id']}", "/tickets/1", "/bookings"):
        response = worker.get(path)
        assert response.status_code == 403, path
        assert "没有权限" in response.text
    # Even with a valid token of their own session, a worker cannot act on a ticket.
    token = re.search(r'name="csrf_token" value="([^"]+)"', worker.get("/queues").text).group(1)
    for path, data in ((f"/tickets/{view['id']}/actions", {"action": "claim"}),
                       (f"/tickets/{view['id']}/reveal", {}), (f"/tickets/{view['id']}/notes", {"note": "x"})):
        assert worker.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert stored(uow_factory, view["id"])["status"] == "open"
    assert [a for a, _, _ in audit_actions(uow_factory, view["id"]) if a != "view_transcript"] == ["create"]
    assert note_bodies(uow_factory, view["id"]) == []


@pytest.mark.parametrize("path", ["/queues", "/queues/general", "/tickets/1", "/bookings"])
def test_signed_out_visitors_are_sent_to_sign_in(app, path):
    response = TestClient(app).get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"


# ---- queues --------------------------------------------------------------------------------

def test_queue_cards_count_tickets_still_to_handle(staff, uow_factory):
    before = queue_count(staff.get("/queues").text, "medical")
    new_ticket(uow_factory, topic="ask_medical_insurance")
    claimed = new_ticket(uow_factory, topic="ask_medical_insurance")
    tickets.change_ticket(uow_factory(), claimed["id"], "claim", actor="someone")
    done = new_ticket(uow_factory, topic="ask_medical_insurance")
    tickets.change_ticket(uow_factory(), done["id"], "resolve", actor="someone")
    page = staff.get("/queues")
    assert page.status_code == 200 and page.text.count("<h1>") == 1
    assert queue_count(page.text, "medical") == before + 2     # open and claimed count, resolved not
    assert 'href="/queues/complaints">投诉</a>' in page.text


def test_queue_lists_priority_first_then_oldest_in_words(staff, uow_factory):
    old_normal = new_ticket(uow_factory, topic="ask_id_card")
    urgent = new_ticket(uow_factory, topic="ask_id_card", reason="distress")
    new_normal = new_ticket(uow_factory, topic="ask_id_card")
    raised = new_ticket(uow_factory, topic="ask_id_card", caller_age=85)
    resolved = new_ticket(uow_factory, topic="ask_id_card", reason="distress")
    tickets.change_ticket(uow_factory(), resolved["id"], "resolve", actor="someone")
    stamp = now()
    set_columns(uow_factory, old_normal["id"], created_at=stamp - timedelta(hours=3),
                sla_due_at=stamp - timedelta(minutes=30))
    set_columns(uow_factory, new_normal["id"], created_at=stamp - timedelta(minutes=10))
    tickets.change_ticket(uow_factory(), new_normal["id"], "claim", actor=staff.account.username)

    page = staff.get("/queues/police_registry")
    assert page.status_code == 200
    order = [page.text.index(t["reference"]) for t in (urgent, raised, old_normal, new_normal)]
    assert order == sorted(order)
    assert resolved["reference"] not in page.text
    rows = {t["reference"]: re.search(rf'{t["reference"]}</a></th>(.*?)</tr>', page.text, re.S).group(1)
            for t in (urgent, raised, old_normal, new_normal)}
    assert "紧急" in rows[urgent["reference"]] and "来电人可能有危险" in rows[urgent["reference"]]
    assert "较急" in rows[raised["reference"]] and "普通" in rows[old_normal["reference"]]
    assert "已超时30分钟" in rows[old_normal["reference"]]          # said in words, not by colour
    assert "电话" in rows[old_normal["reference"]] and "等待接单" in rows[old_normal["reference"]]
    assert "您接的单" in rows[new_normal["reference"]] and "处理中" in rows[new_normal["reference"]]
    assert "您接的单" not in rows[urgent["reference"]]
    assert f'href="/tickets/{urgent["id"]}"' in page.text
    assert '<th scope="col">' in page.text and "<caption" in page.text


def test_unknown_queue_is_a_404_page(staff):
    response = staff.get("/queues/no_such_queue")
    assert response.status_code == 404 and "没有这个队列" in response.text


# ---- the ticket page -----------------------------------------------------------------------

def test_ticket_page_shows_the_conversation_escaped_and_in_order(staff, uow_factory):
    view = new_ticket(uow_factory, transcript=[
        {"speaker": "bot", "text": "您好，请问您想办什么事？", "at": "2026-05-04T09:00:05"},
        {"speaker": "caller", "text": "<script>alert(1)</script>", "at": "2026-05-04T09:00:12"},
        {"speaker": "caller", "text": "我社保卡丢了，转人工", "at": "not a time"},
    ], filled_slots={"service": "social_security_card", "favourite_colour": "<b>红色</b>"})
    page = staff.get(f"/tickets/{view['id']}")
    assert page.status_code == 200 and page.text.count("<h1>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    first, second, third = (page.text.index(s) for s in ("您好，请问您想办什么事？", "&lt;script&gt;", "我社保卡丢了"))
    assert first < second < third
    assert page.text.count('<span class="speaker">来电人</span>') == 2
    assert page.text.count('<span class="speaker">机器人</span>') == 1
    assert "09:00" in page.text
    # Filled slots: known names in Chinese, others as they are; values escaped.
    assert "要办的事" in page.text and "社保卡申领与补办" in page.text
    assert "favourite_colour" in page.text and "&lt;b&gt;红色&lt;/b&gt;" in page.text and "<b>红色" not in page.text
    for fact in (view["reference"], "社保养老", "普通", "来电人要求转人工", "等待接单", "还没人接"):
        assert fact in page.text


def test_unknown_ticket_is_a_404_page(staff):
    response = staff.get("/tickets/987654")
    assert response.status_code == 404 and "没有这张工单" in response.text


def test_phone_is_masked_until_revealed_and_each_reveal_is_audited(staff, uow_factory):
    phone = random_phone()
    view = new_ticket(uow_factory, caller_phone=phone)
    page = staff.get(f"/tickets/{view['id']}")
    masked = f"{phone[:3]}****{phone[-4:]}"
    assert masked in page.text and phone not in page.text and "显示完整号码" in page.text

    shown = post_form(staff, f"/tickets/{view['id']}/reveal", token_from=f"/tickets/{view['id']}")
    assert shown.status_code == 200 and phone in shown.text and "已经记录" in shown.text
    reveals = [(actor, details) for action, actor, details in audit_actions(uow_factory, view["id"])
               if action == "reveal_phone"]
    assert len(reveals) == 1
    actor, details = reveals[0]
    assert actor == staff.account.username and phone not in str(details) and phone[-4:] not in str(details)
    assert "查看完整号码" in shown.text                                # in the trail on the page
    assert phone not in staff.get(f"/tickets/{view['id']}").text     # masked again on the next visit


def test_claim_sets_the_assignee_and_shows_in_the_trail(staff, uow_factory):
    view = new_ticket(uow_factory)
    response = act(staff, view["id"], "claim")
    assert response.status_code == 303 and response.headers["location"] == f"/tickets/{view['id']}?done=claimed"
    assert stored(uow_factory, view["id"])["assignee"] == staff.account.username
    page = staff.get(response.headers["location"])
    assert "已接单。" in page.text and "您接的单" in page.text
    trail = page.text[page.text.index('id="trail-heading"'):]
    assert re.search(rf"<td>{staff.account.username}</td><td>接单</td><td>等待接单</td><td>处理中</td>", trail)
    assert "<td>转入人工</td>" in trail


def test_a_second_claim_is_a_clear_conflict(staff, other_staff, uow_factory):
    view = new_ticket(uow_factory)
    assert act(staff, view["id"], "claim").status_code == 303
    token = re.search(r'name="csrf_token" value="([^"]+)"', other_staff.get("/queues").text).group(1)
    response = other_staff.post(f"/tickets/{view['id']}/actions", data={"action": "claim", "csrf_token": token})
    assert response.status_code == 409
    assert f"这张工单已经由{staff.account.username}接了" in response.text and 'role="alert"' in response.text
    assert stored(uow_factory, view["id"])["assignee"] == staff.account.username
    again = act(staff, view["id"], "claim")                          # a double submit by the same person
    assert again.status_code == 409 and "已经由您接了" in again.text
    assert [a for a, _, _ in audit_actions(uow_factory, view["id"])].count("claim") == 1


def test_resolve_with_a_note_then_a_double_submit(staff, uow_factory):
    view = new_ticket(uow_factory)
    act(staff, view["id"], "claim")
    response = act(staff, view["id"], "resolve", resolve_note="已电话告知补办地点")
    assert response.status_code == 303 and response.headers["location"].endswith("?done=resolved")
    assert stored(uow_factory, view["id"])["status"] == "resolved"
    assert note_bodies(uow_factory, view["id"]) == ["已电话告知补办地点"]
    page = staff.get(response.headers["location"])
    assert "工单已办结。" in page.text and "已电话告知补办地点" in page.text and "不需要再处理" in page.text
    assert 'name="action" value="resolve"' not in page.text
    again = post_form(staff, f"/tickets/{view['id']}/actions", {"action": "resolve"}, token_from="/queues")
    assert again.status_code == 409 and "工单现在是“已办结”，不能办结" in again.text
    assert [a for a, _, _ in audit_actions(uow_factory, view["id"])].count("resolve") == 1


def test_only_the_assignee_or_an_administrator_releases(staff, other_staff, as_role, uow_factory):
    view = new_ticket(uow_factory)
    act(staff, view["id"], "claim")
    page = other_staff.get(f"/tickets/{view['id']}")
    assert 'name="action" value="release"' not in page.text
    refused = post_form(other_staff, f"/tickets/{view['id']}/actions", {"action": "release"}, token_from="/queues")
    assert refused.status_code == 403 and "只有接单的人或管理员" in refused.text
    assert stored(uow_factory, view["id"])["assignee"] == staff.account.username

    assert 'name="action" value="release"' in staff.get(f"/tickets/{view['id']}").text
    released = act(staff, view["id"], "release")
    assert released.status_code == 303 and released.headers["location"].endswith("?done=released")
    after = stored(uow_factory, view["id"])
    assert after["status"] == "open" and after["assignee"] is None

    act(other_staff, view["id"], "claim")
    admin = as_role("admin")
    assert act(admin, view["id"], "release").status_code == 303
    assert stored(uow_factory, view["id"])["status"] == "open"


@pytest.mark.parametrize("typed,message", [
    ("", "请填写回电的日期和时间"),
    ("2020-01-01T10:00", "回电时间已经过去了"),
    ("not-a-date", "回电时间看不懂"),
    ("2026-13-45T10:00", "回电时间看不懂"),
    ("in 30 days", "只能约在14天以内"),
])
def test_invalid_callback_times_are_refused_and_change_nothing(staff, uow_factory, typed, message):
    if typed == "in 30 days":
        typed = f"{now() + timedelta(days=30):%Y-%m-%dT10:00}"
    view = new_ticket(uow_factory)
    before = stored(uow_factory, view["id"])
    response = act(staff, view["id"], "schedule_callback", callback_from=typed)
    assert response.status_code == 422
    assert message in response.text and 'aria-invalid="true"' in response.text
    after = stored(uow_factory, view["id"])
    assert (after["status"], after["callback_from"], after["callback_until"]) == \
        (before["status"], before["callback_from"], before["callback_until"])
    assert [a for a, _, _ in audit_actions(uow_factory, view["id"]) if a != "view_transcript"] == ["create"]


def test_a_valid_callback_time_is_scheduled(staff, uow_factory):
    view = new_ticket(uow_factory)
    when = (now() + timedelta(days=1)).replace(hour=10, minute=30, second=0)
    response = act(staff, view["id"], "schedule_callback", callback_from=f"{when:%Y-%m-%dT%H:%M}")
    assert response.status_code == 303 and response.headers["location"].endswith("?done=callback_scheduled")
    after = stored(uow_factory, view["id"])
    assert after["status"] == "callback_scheduled" and after["callback_from"] == when.isoformat()
    page = staff.get(response.headers["location"])
    assert "已约好回电时间。" in page.text and "10:30到12:30" in page.text
    with uow_factory() as uow:                     # the caller is told by SMS (outbox)
        [sms] = uow.outbox.for_entity("handoff_tickets", view["id"])
        assert sms.kind == "callback_scheduled" and sms.status == "pending"
        assert f"{when.month}月{when.day}日10:30到12:30之间给您回电" in decrypt(sms.body_enc)


def test_notes_are_added_and_checked(staff, uow_factory):
    view = new_ticket(uow_factory)
    path = f"/tickets/{view['id']}/notes"
    added = post_form(staff, path, {"note": "  来电人下午方便接电话 <i>注意</i> "}, token_from=f"/tickets/{view['id']}")
    assert added.status_code == 303 and added.headers["location"].endswith("?done=note_added")
    page = staff.get(added.headers["location"])
    assert "备注已保存。" in page.text and "来电人下午方便接电话 &lt;i&gt;注意&lt;/i&gt;" in page.text
    assert "<td>写备注</td>" in page.text

    empty = post_form(staff, path, {"note": "   "}, token_from="/queues")
    assert empty.status_code == 422 and "备注是空的" in empty.text
    too_long = post_form(staff, path, {"note": "长" * 1001}, token_from="/queues")
    assert too_long.status_code == 422 and "最多1000个字，现在有1001个字" in too_long.text
    assert "长" * 1001 in too_long.text                               # what was typed is kept
    assert post_form(staff, path, {"note": "满" * 1000}, token_from="/queues").status_code == 303
    assert note_bodies(uow_factory, view["id"]) == ["来电人下午方便接电话 <i>注意</i>", "满" * 1000]


def test_posts_without_the_csrf_token_are_refused(staff, uow_factory):
    view = new_ticket(uow_factory)
    for path, data in ((f"/tickets/{view['id']}/actions", {"action": "claim"}),
                       (f"/tickets/{view['id']}/notes", {"note": "偷偷加的备注"}),
                       (f"/tickets/{view['id']}/reveal", {})):
        response = staff.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403 and "请求被拒绝" in response.text, path
    after = stored(uow_factory, view["id"])
    assert after["status"] == "open" and after["assignee"] is None
    assert note_bodies(uow_factory, view["id"]) == []
    assert [a for a, _, _ in audit_actions(uow_factory, view["id"]) if a != "view_transcript"] == ["create"]


# ---- bookings ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,masked", [("王秀英", "王*英"), ("李明", "李*"), ("欧阳娜娜", "欧**娜"), ("张", "*"),
                                         ("", ""), (None, "")])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_bookings_page_shows_capacity_remaining_and_masked_names(staff, uow_factory):
    request = booking_request(resident=ResidentInput(name="王秀英", phone=random_phone(), birth_year=1941))
    booked = bookings.create_booking(uow_factory(), request, actor="test")
    with uow_factory() as uow:
        place = uow.places.by_code("city_hall")
        slot = uow.slots.find(place.id, request.day, "am")
        capacity, taken = slot.capacity, slot.booked
    page = staff.get(f"/bookings?day={request.day.isoformat()}&place=city_hall")
    assert page.status_code == 200 and page.text.count("<h1>") == 1
    morning = page.text[page.text.index("<h4>上午</h4>"):page.text.index("<h4>下午</h4>")]
    assert f"可约 <strong>{capacity}</strong> 个" in morning
    assert f"已约 <strong>{taken}</strong> 个" in morning and taken >= 1
    assert f"还剩 <strong>{capacity - taken}</strong> 个" in morning
    assert booked["reference"] in morning and "王*英" in morning and "王秀英" not in page.text
    assert "代办" in morning and booked["service_name"] in morning and "已确认" in morning
    assert "南湖区政务服务中心</h3>" not in page.text                  # one place picked
    every_place = staff.get(f"/bookings?day={request.day.isoformat()}")
    assert "南湖区政务服务中心</h3>" in every_place.text and booked["reference"] in every_place.text


def test_bookings_page_defaults_to_today(staff):
    page = staff.get("/bookings")
    assert page.status_code == 200 and f'value="{now().date().isoformat()}"' in page.text
    assert '<label for="f-day">日期</label>' in page.text and '<label for="f-place">办事地点</label>' in page.text


@pytest.mark.parametrize("typed", ["2026-13-45", "abc", "2026-1-5"])
def test_bookings_page_explains_an_invalid_date(staff, typed):
    page = staff.get(f"/bookings?day={typed}")
    assert page.status_code == 422 and "日期看不懂" in page.text and 'role="alert"' in page.text
    assert f'value="{typed}"' in page.text                             # the form, with what was typed


def test_bookings_page_explains_an_unknown_place(staff):
    page = staff.get("/bookings?place=nowhere")
    assert page.status_code == 404 and "没有这个办事地点" in page.text


def test_opening_a_ticket_with_the_callers_words_is_audited_once_per_view(staff, uow_factory):
    view = new_ticket(uow_factory)
    for _ in range(2):
        assert staff.get(f"/tickets/{view['id']}").status_code == 200
    views = [actor for action, actor, _details in audit_actions(uow_factory, view["id"]) if action == "view_transcript"]
    assert views == [staff.account.username] * 2
    assert "查看对话记录" in staff.get(f"/tickets/{view['id']}").text


def test_staff_record_a_withdrawn_consent_from_the_bookings_page_after_confirming(staff, uow_factory):
    request = booking_request(day=bookable_day(4), resident=ResidentInput(name="吴阿婆", phone=random_phone()))
    booked = bookings.create_booking(uow_factory(), request, actor="test")
    page_path = f"/bookings?day={request.day.isoformat()}"
    assert f'action="/bookings/{booked["reference"]}/withdraw-consent"' in staff.get(page_path).text
    path = f"/bookings/{booked['reference']}/withdraw-consent"
    unconfirmed = post_form(staff, path, {"day": request.day.isoformat()}, token_from=page_path)
    assert unconfirmed.status_code == 422 and "已核实是居民本人要求" in unconfirmed.text
    with uow_factory() as uow:
        assert uow.bookings.by_reference(booked["reference"]).status == "confirmed"      # nothing changed
    done = post_form(staff, path, {"day": request.day.isoformat(), "confirmed": "yes"}, token_from=page_path)
    assert done.status_code == 303 and done.headers["location"] == f"{page_path}&done=consent_withdrawn"
    after = staff.get(done.headers["location"])
    assert "已撤回同意" in after.text and "已撤回，信息已删除" in after.text
    with uow_factory() as uow:
        booking = uow.bookings.by_reference(booked["reference"])
        assert booking.status == "cancelled" and booking.resident.name_enc is None
        assert uow.audit.for_entity("residents", booking.resident_id)[-1].actor == staff.account.username


def test_a_community_worker_cannot_withdraw_consent_for_anyone(as_role, uow_factory):
    booked = bookings.create_booking(uow_factory(), booking_request(day=bookable_day(5)), actor="test")
    worker = as_role("worker")
    refused = post_form(worker, f"/bookings/{booked['reference']}/withdraw-consent", {"confirmed": "yes"},
                        token_from="/applications")
    assert refused.status_code == 403
    with uow_factory() as uow:
        assert uow.bookings.by_reference(booked["reference"]).status == "confirmed"
