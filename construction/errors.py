"""One error shape for the API: application/problem+json (RFC 9457)."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from construction.i18n import browser_language

PROBLEM_BASE = "/api/v1/problems/"

# type -> (status, English title, Chinese title)
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "validation-error": (422, "The request is not valid", "请求无效"),
    "invalid-code": (422, "The code is not valid", "编码无效"),
    "unknown-code": (404, "No component has this code", "未找到该编码的构件"),
    "invalid-transition": (409, "This action is not allowed in the current state",
                           "当前状态不允许此操作"),
    "action-blocked": (409, "This action is blocked", "此操作被阻止"),
    "record-required": (422, "This action needs a supporting record", "此操作需要记录"),
    "strength-not-reached": (409, "The concrete has not reached the strength this step needs",
                             "混凝土强度未达到此工序要求"),
    "inspection-required": (409, "This step needs a passed inspection",
                            "此工序需要检验合格"),
    "client-event-id-reused": (409, "This client event id was used for another scan",
                               "该客户端事件编号已用于其他扫描"),
    "idempotency-key-reused": (422, "This Idempotency-Key was used for another request",
                               "该幂等键已用于其他请求"),
    "invalid-correction": (409, "This event cannot be corrected", "此事件不能更正"),
    "label-invalid": (422, "This label is not genuine", "该标签不是真实标签"),
    "label-revoked": (422, "This label version was revoked", "该标签版本已作废"),
    "label-not-issued": (409, "No label was issued for this component yet",
                         "该构件尚未签发标签"),
    "image-too-large": (413, "The image has too many pixels", "图像像素过多"),
    "unsupported-image": (415, "The image type is not supported", "不支持的图像类型"),
    "unreadable-image": (422, "The image cannot be read", "无法读取图像"),
    "unauthorized": (401, "Authentication is required", "需要身份验证"),
    "forbidden": (403, "You may not do this", "无权执行此操作"),
    "csrf-failed": (403, "The page's form token is missing or wrong", "页面表单令牌缺失或错误"),
    "forbidden-action": (403, "Your role may not perform this action", "您的角色不能执行此操作"),
    "not-found": (404, "Not found", "未找到"),
    "conflict": (409, "Conflict", "冲突"),
    "in-use": (409, "The resource is still in use", "资源仍在使用中"),
    "import-failed": (422, "The import has errors; nothing was imported",
                      "导入有错误，未导入任何数据"),
    "model-invalid": (422, "The model cannot be imported", "无法导入该模型"),
    "model-not-ready": (409, "The model's import has not succeeded", "模型尚未成功导入"),
    "payload-too-large": (413, "The request is too large", "请求过大"),
    "method-not-allowed": (405, "Method not allowed", "不允许的方法"),
    "unsupported-media-type": (415, "Unsupported media type", "不支持的媒体类型"),
    "bad-request": (400, "Bad request", "错误的请求"),
    "internal-error": (500, "Internal error", "内部错误"),
    "invalid-epcis-document": (422, "The document is not valid EPCIS 2.0",
                               "该文档不是有效的 EPCIS 2.0 文档"),
    "unknown-epc": (404, "No component you may act on has this EPC",
                    "没有您可操作的构件具有此 EPC"),
    "unmapped-biz-step": (422, "This business step maps to no lifecycle action",
                          "此业务步骤不对应任何生命周期操作"),
    "unsupported-event": (422, "Only ObjectEvents about components are captured",
                          "仅接收关于构件的 ObjectEvent"),
    "unknown-load": (404, "No load you may act on has this name", "未找到您可操作的车次"),
    "invalid-sscc": (422, "The SSCC is not valid", "SSCC 无效"),
    "load-closed": (409, "The load is no longer open", "该车次已不再开放"),
    "load-refused": (409, "Some components of the load refuse this action; nothing was "
                     "recorded", "车次中有构件不能执行此操作，未记录任何内容"),
    "invalid-load-action": (422, "A load label is not scanned for this action",
                            "车次标签不能用于此操作"),
    "component-not-loadable": (409, "The component may not be loaded", "该构件不能装车"),
    "component-in-another-load": (409, "The component is on another load",
                                  "该构件已在其他车次中"),
    "wrong-project": (422, "The component belongs to another project", "该构件属于其他项目"),
    "over-weight-limit": (422, "The weight is over the limit", "重量超过限制"),
    "database-unavailable": (503, "The database cannot be reached just now; try again",
                             "暂时无法连接数据库，请稍后重试"),
    "not-ready": (503, "The service is not ready to take requests", "服务尚未就绪"),
    "uri-too-long": (414, "The request line is too long", "请求行过长"),
    "headers-too-large": (431, "The request headers are too large", "请求头过大"),
    "too-many-requests": (429, "Too many requests; wait and try again", "请求过多，请稍后重试"),
}

class ApiProblem(Exception):
    """A domain error answered as problem+json."""

    def __init__(self, type_: str, detail: str = "", status: int | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or type_)
        self.type = type_
        self.status = status or PROBLEM_TYPES[type_][0]
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def _wants_chinese() -> bool:
    return browser_language() == "zh_CN"


def problem_body(type_: str, status: int, detail: str = "", **extra: Any) -> dict[str, Any]:
    """Return the problem+json body for a problem type."""
    _, title_en, title_zh = PROBLEM_TYPES.get(type_, (status, "Error", "错误"))
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title_zh if _wants_chinese() else title_en,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_response(type_: str, status: int, detail: str = "", headers=None,
                     **extra: Any) -> Response:
    """Build a problem+json response."""
    response = Response(
        json.dumps(problem_body(type_, status, detail, **extra)),
        status=status,
        mimetype="application/problem+json",
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def describe_problem_type(type_: str) -> dict[str, Any]:
    """Return what GET /api/v1/problems/{type} answers for one problem type."""
    if type_ not in PROBLEM_TYPES:
        raise ApiProblem("not-found", f"no problem type '{type_}'")
    status, title_en, title_zh = PROBLEM_TYPES[type_]
    return {"type": PROBLEM_BASE + type_, "status": status,
            "title": {"en": title_en, "zh-CN": title_zh}}


def import_failed(errors: list) -> ApiProblem:
    """Refuse a whole import: how many errors it has (each names its row); nothing is kept."""
    return ApiProblem("import-failed", f"{len(errors)} error{'s' if len(errors) != 1 else ''}; "
                      "nothing was imported", errors=errors)
