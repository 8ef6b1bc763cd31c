"""Local HTTP servers standing in for Aliyun's and Tencent Cloud's SMS APIs, on a real socket
on loopback, for the tests (tests/sms) and `nuanliu bench sms`. Each checks what the official
SDK sends as the provider documents it (action, version, the signature recomputed from the
secret: ACS3-HMAC-SHA256 for Aliyun, TC3-HMAC-SHA256 for Tencent; sign name, template code,
parameters as JSON) and answers as the provider does: success, throttling, permanent errors,
or no answer in time.

`mode` picks the answer for every request; `script` (a list of modes) overrides it for the next
requests, one each. `qps` throttles like the provider beyond that many requests a second.
Every request the SDK sent is in `requests`, every text accepted in `accepted`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

ALIYUN_KEY_ID = "LTAI5tStandInKeyId000"
ALIYUN_SECRET = "aliyun-standin-secret-0123456789"
TENCENT_SECRET_ID = "AKIDstandin0123456789abcdefghijkl"
TENCENT_SECRET = "tencent-standin-secret-0123456789"
TENCENT_APP_ID = "1400000001"
SIGN_NAME = "暖流"
#: Aliyun refuses a template variable longer than this
ALIYUN_MAX_VARIABLE = 35


class _Bucket:
    """The provider's own rate limit, to throttle a sender that does not keep to it."""

    def __init__(self, qps: float) -> None:
        self.qps = qps
        self.tokens = qps
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.qps, self.tokens + (now - self.at) * self.qps)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class StandIn(ThreadingHTTPServer):
    """Shared by both providers: the socket, the modes, the record."""

    daemon_threads = True
    #: seconds a "slow" answer waits (longer than the gateway's timeout in the tests)
    slow_s = 1.5

    def __init__(self, approved: Mapping[str, tuple[str, ...]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        #: template code → the variables its approved text names (in order, for Tencent)
        self.approved = dict(approved)
        self.mode = "ok"
        self.script: list[str] = []
        self.qps: float | None = None
        self._bucket: _Bucket | None = None
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.refusals: list[str] = []
        self.nonces: set[str] = set()
        self.lock = threading.Lock()
        #: headers every answer carries (Aliyun's `x-acs-retry-after` on throttling)
        self.extra_headers: dict[str, str] = {}

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def next_mode(self) -> str:
        with self.lock:
            if self.script:
                return self.script.pop(0)
        if self.qps is not None:
            if self._bucket is None or self._bucket.qps != self.qps:
                self._bucket = _Bucket(self.qps)
            if not self._bucket.take():
                return "throttle"
        return self.mode

    def handle_post(self, handler: _Handler, body: bytes) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server: StandIn
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK hold each answer back 40 ms
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        status, answer = self.server.handle_post(self, body)
        extra = self.server.extra_headers
        if status == 0:  # no answer in time: the client's read times out
            time.sleep(self.server.slow_s)
            status = 200
        data = json.dumps(answer, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


# -- Aliyun ----------------------------------------------------------------------------------
def _acs3_canonical_query(query: list[tuple[str, str]]) -> str:
    # RFC 3986: letters, digits, -_.~ stay; space is %20
    pairs = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def acs3_signature(
    secret: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    signed: list[str],
    payload_hash: str,
) -> str:
    """ACS3-HMAC-SHA256 as Aliyun documents it (“V3 版本请求体&签名机制”): the canonical
    request is method, URI, the sorted encoded query, each signed header `name:value\\n`, the
    signed header names, the payload's SHA-256; the string to sign is the algorithm and the
    canonical request's SHA-256; the signature is HMAC-SHA256 with the secret, hex."""
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    canonical = "\n".join(
        [
            method,
            path or "/",
            _acs3_canonical_query(query),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class AliyunStandIn(StandIn):
    """dysmsapi 2017-05-25: SendSms and SendBatchSms, RPC style, ACS3-HMAC-SHA256."""

    def handle_post(self, handler: _Handler, body: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(handler.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        form = parse_qsl(body.decode(), keep_blank_values=True) if body else []
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = {"headers": headers, "query": dict(query), "form": dict(form), "path": url.path}
        with self.lock:
            self.requests.append(record)
        request_id = str(uuid.uuid4()).upper()

        def refuse(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
            self.refusals.append(code)
            return status, {"Code": code, "Message": message, "RequestId": request_id}

        # the signature, recomputed from the secret
        auth = headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        parts = dict(p.split("=", 1) for p in rest.split(",") if "=" in p)
        if algorithm != "ACS3-HMAC-SHA256" or parts.get("Credential") != ALIYUN_KEY_ID:
            return refuse(400, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = parts.get("SignedHeaders", "").split(";")
        must = {
            "host",
            "x-acs-action",
            "x-acs-version",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-content-sha256",
        }
        if not must <= set(signed) or any(name not in headers for name in signed):
            return refuse(400, "IncompleteSignature", "The request signature is incomplete.")
        if headers["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
            return refuse(400, "IncompleteSignature", "The payload hash does not match.")
        expected = acs3_signature(
            ALIYUN_SECRET,
            handler.command,
            url.path,
            query,
            headers,
            signed,
            headers["x-acs-content-sha256"],
        )
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return refuse(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        nonce = headers["x-acs-signature-nonce"]
        with self.lock:
            if nonce in self.nonces:
                return refuse(400, "SignatureNonceUsed", "Specified signature nonce was used.")
            self.nonces.add(nonce)
        sent_at = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - sent_at).total_seconds()) > 900:
            return refuse(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        action, version = headers["x-acs-action"], headers["x-acs-version"]
        if version != "2017-05-25" or action not in ("SendSms", "SendBatchSms"):
            return refuse(404, "InvalidAction.NotFound", f"{action} {version} not found.")
        record["action"] = action

        mode = self.next_mode()
        if mode == "throttle":
            return refuse(400, "Throttling.User", "Request was denied due to user flow control.")
        if mode == "slow":
            return 0, {"Code": "OK", "Message": "OK", "BizId": "late", "RequestId": request_id}
        params = {**dict(query), **dict(form)}
        texts = self._texts(action, params)
        if isinstance(texts, str):
            return refuse(200, texts, "invalid request")
        business = {
            "bad_number": ("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
            "not_approved": ("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"),
            "balance": ("isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
            "system_error": ("isp.SYSTEM_ERROR", "系统异常"),
        }
        if mode in business:
            return refuse(200, *business[mode])
        biz_id = f"{int(time.time() * 1000)}^{uuid.uuid4().int % 10**10}"
        with self.lock:
            for text in texts:
                self.accepted.append({**text, "biz_id": biz_id, "action": action})
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}

    def _texts(self, action: str, params: dict[str, str]) -> list[dict[str, Any]] | str:
        """The texts a request asks for, or the error code Aliyun answers for it."""
        code = params.get("TemplateCode", "")
        if code not in self.approved:
            return "isv.SMS_TEMPLATE_ILLEGAL"
        try:
            if action == "SendSms":
                numbers = params.get("PhoneNumbers", "").split(",")
                signs = [params.get("SignName", "")] * len(numbers)
                values = [json.loads(params.get("TemplateParam") or "{}")] * len(numbers)
            else:
                numbers = json.loads(params["PhoneNumberJson"])
                signs = json.loads(params["SignNameJson"])
                values = json.loads(params["TemplateParamJson"])
        except (KeyError, ValueError):
            return "isv.INVALID_JSON_PARAM"
        if len(signs) != len(numbers) or len(values) != len(numbers):
            return "isv.INVALID_PARAMETERS"
        texts = []
        for number, sign, value in zip(numbers, signs, values, strict=True):
            if sign != SIGN_NAME:
                return "isv.SMS_SIGNATURE_ILLEGAL"
            if not (isinstance(number, str) and number.isdigit() and len(number) == 11):
                return "isv.MOBILE_NUMBER_ILLEGAL"
            if not isinstance(value, dict) or set(value) != set(self.approved[code]):
                return "isv.TEMPLATE_MISSING_PARAMETERS"
            if not all(isinstance(v, str) for v in value.values()):
                return "isv.TEMPLATE_PARAMS_ILLEGAL"
            if any(len(v) > ALIYUN_MAX_VARIABLE for v in value.values()):
                return "isv.PARAM_LENGTH_LIMIT"  # 变量长度 1-35 个字符 (notification templates)
            texts.append({"phone": number, "sign": sign, "code": code, "params": value})
        return texts


# -- Tencent ---------------------------------------------------------------------------------
def tc3_signature(
    secret_key: str, timestamp: int, service: str, canonical_request: str
) -> tuple[str, str]:
    """TC3-HMAC-SHA256 as Tencent Cloud documents it (“签名方法 v3”): the string to sign is
    the algorithm, the timestamp, the credential scope `date/service/tc3_request` and the
    canonical request's SHA-256; the key is derived HMAC by HMAC from `"TC3" + SecretKey`
    through the UTC date, the service and `tc3_request`. Returns (scope, signature)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return scope, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentStandIn(StandIn):
    """SMS 2021-01-11 SendSms, JSON body, TC3-HMAC-SHA256."""

    def handle_post(self, handler: _Handler, body: bytes) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request_id = str(uuid.uuid4())
        record: dict[str, Any] = {"headers": headers, "path": handler.path}
        with self.lock:
            self.requests.append(record)

        def error(code: str, message: str) -> tuple[int, dict[str, Any]]:
            self.refusals.append(code)
            return 200, {
                "Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}
            }

        auth = headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        parts = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
        credential = parts.get("Credential", "").split("/")
        if algorithm != "TC3-HMAC-SHA256" or len(credential) != 4:
            return error("AuthFailure.SignatureFailure", "The provided credentials are invalid.")
        if credential[0] != TENCENT_SECRET_ID:
            return error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        if parts.get("SignedHeaders") != "content-type;host":
            return error("AuthFailure.SignatureFailure", "Signed headers are not as documented.")
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            return error("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing.")
        if abs(time.time() - timestamp) > 300:
            return error("AuthFailure.SignatureExpire", "The signature expired.")
        canonical = "\n".join(
            [
                handler.command,
                "/",
                "",
                f"content-type:{headers.get('content-type', '')}\nhost:{headers.get('host', '')}\n",
                "content-type;host",
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope, expected = tc3_signature(TENCENT_SECRET, timestamp, credential[2], canonical)
        if "/".join(credential[1:]) != scope or credential[2] != "sms":
            return error("AuthFailure.SignatureFailure", "The credential scope is wrong.")
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return error("AuthFailure.SignatureFailure", "The signature does not match.")
        action, version = headers.get("x-tc-action"), headers.get("x-tc-version")
        if action != "SendSms" or version != "2021-01-11":
            return error("InvalidAction", f"{action} {version} is not an action")
        record["action"] = action
        try:
            params = json.loads(body)
        except ValueError:
            return error("InvalidParameter", "the body is not JSON")
        record["params"] = params

        mode = self.next_mode()
        if mode == "throttle":
            return error("RequestLimitExceeded", "Your requests exceeded the frequency limit.")
        if mode == "slow":
            return 0, {"Response": {"SendStatusSet": [], "RequestId": request_id}}
        if params.get("SmsSdkAppId") != TENCENT_APP_ID:
            return error("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId is wrong.")
        code = params.get("TemplateId")
        values = params.get("TemplateParamSet")
        if params.get("SignName") != SIGN_NAME:
            per_number = ("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误")
        elif code not in self.approved:
            per_number = ("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或不存在")
        elif (
            not isinstance(values, list)
            or len(values) != len(self.approved[code])
            or not all(isinstance(v, str) for v in values)
        ):
            per_number = ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "参数不匹配")
        else:
            per_number = {
                "bad_number": ("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"),
                "not_approved": ("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批"),
                "balance": ("FailedOperation.InsufficientBalanceInSmsPackage", "套餐包余量不足"),
            }.get(mode, ("Ok", "send success"))
        if mode == "system_error":
            return error("InternalError.SendAndRecvFail", "接口超时或短信收发包超时")
        statuses = []
        for number in params.get("PhoneNumberSet") or []:
            serial = (
                f"{TENCENT_APP_ID}:{uuid.uuid4().int % 10**20}" if per_number[0] == "Ok" else ""
            )
            statuses.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": number,
                    "Fee": 1 if serial else 0,
                    "SessionContext": "",
                    "Code": per_number[0],
                    "Message": per_number[1],
                    "IsoCode": "CN",
                }
            )
            if serial:
                with self.lock:
                    self.accepted.append(
                        {"phone": number, "code": code, "params": values, "serial": serial}
                    )
            else:
                self.refusals.append(per_number[0])
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}


@contextmanager
def serving(server: StandIn) -> Iterator[StandIn]:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def approved_codes(provider: str) -> dict[str, str]:
    """A code for every template id, as a provider's console would have approved them."""
    from coordinator.sms.templates import template_ids

    prefix = "SMS_4" if provider == "aliyun" else "1"
    return {tid: f"{prefix}{i:05d}" for i, tid in enumerate(template_ids(), 1)}


def approved_variables(provider: str) -> dict[str, tuple[str, ...]]:
    """code → the variables of the approved text (what the provider checks the params by)."""
    from coordinator.sms.templates import get, split_id

    return {code: get(split_id(tid)[0]).variables for tid, code in approved_codes(provider).items()}


def codes_toml(provider_codes: Mapping[str, Mapping[str, str]]) -> str:
    """A NUANLIU_SMS_TEMPLATES file with the given provider → template id → code."""
    by_id: dict[str, dict[str, str]] = {}
    for provider, codes in provider_codes.items():
        for tid, code in codes.items():
            by_id.setdefault(tid, {})[provider] = code
    lines = []
    for tid, codes in by_id.items():
        lines.append(f"[{tid}]")
        lines.extend(f'{p} = "{c}"' for p, c in codes.items())
    return "\n".join(lines) + "\n"
