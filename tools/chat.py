"""Talk to the running assistant from a terminal (make chat)."""
from __future__ import annotations

import json
import os
import sys
import uuid

import requests

RASA_URL = os.environ.get("RASA_URL", "http://localhost:5005")


def send(sender: str, message: str, url: str = RASA_URL) -> list[dict]:
    response = requests.post(
        f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=30
    )
    response.raise_for_status()
    return response.json()


def main() -> int:
    sender = f"chat-{uuid.uuid4().hex[:8]}"
    print(f"对话号 {sender}。输入您想说的话，回车发送；输入 /quit 或按 Ctrl-D 退出。")
    while True:
        try:
            line = input("您：").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line in {"/quit", "/exit"}:
            return 0
        try:
            replies = send(sender, line)
        except requests.RequestException as error:
            print(f"连不上助手（{RASA_URL}）：{error}\n请先在另一个终端运行 make run。", file=sys.stderr)
            continue
        for reply in replies:
            if reply.get("text"):
                print(f"热线：{reply['text']}")
            if reply.get("custom"):
                print(f"热线（控制）：{json.dumps(reply['custom'], ensure_ascii=False)}")


if __name__ == "__main__":
    sys.exit(main())
