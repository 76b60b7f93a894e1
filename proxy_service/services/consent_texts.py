"""The consent wordings residents agree to, by version.

A consent record stores the version of the wording the resident was shown. When the wording
changes, add a new version here and make it current: a form still showing an older version
is refused, so nobody is recorded as agreeing to words they never saw.
"""
from __future__ import annotations

from proxy_service.services.errors import InvalidRequest

PROXY_CONSENT_VERSION = "proxy-2026-11"

# {service_name} is the errand the resident asks the agent to handle.
PROXY_CONSENT_TEXTS = {
    PROXY_CONSENT_VERSION: (
        "我同意委托代办人替我办理“{service_name}”这一项业务。",
        "我同意政务帮办热线为办这件事保存我的姓名、手机号、身份证号（如果提供），以及我签字的委托书。"
        "这些信息只用来办理这项业务和通知我办理进度。",
        "办结或不通过以后，这些信息按规定的保存期限保存，到期删除。",
        "我可以随时撤回同意。撤回以后，还没有办完的业务会停止办理。撤回请联系社区工作者或拨打热线。",
    ),
}

# ID numbers are sensitive personal information: kept only with this separate consent.
SENSITIVE_CONSENT_TEXTS = {
    PROXY_CONSENT_VERSION: "我另外单独同意保存我的身份证号。身份证号属于敏感个人信息，只用来核实身份和办理这项业务。",
}

OUTDATED = "同意书已经更新，请让居民重新确认。"


def proxy_consent(service_name: str, version: str = PROXY_CONSENT_VERSION) -> list[str]:
    """The paragraphs of the proxy consent, with the errand named."""
    return [paragraph.format(service_name=service_name) for paragraph in PROXY_CONSENT_TEXTS[version]]


def sensitive_consent(version: str = PROXY_CONSENT_VERSION) -> str:
    return SENSITIVE_CONSENT_TEXTS[version]


def require_current_proxy_version(version: str | None) -> str:
    """The version a form posted, if it is the current one; otherwise the form is out of date."""
    if version != PROXY_CONSENT_VERSION:
        raise InvalidRequest(OUTDATED, f"consent wording version {version!r} is not the current one.",
                             field="consent")
    return version
