"""A real GA/T 1400 view-library server for tests: stdlib HTTP on 127.0.0.1 with real MD5 digest
(qop=auth, opaque), registration state, and strict checks of uploaded person/face objects. It is
also the upper platform of subscriptions: it takes SubscribeNotifications (checked as strictly),
and `Subscriber` makes, lists and cancels subscriptions at a lower platform's /VIID/Subscribes.

Conventions where GA/T 1400.4 leaves it to the server:
- Keepalive from an unregistered device: 200 with StatusCode 4 (Invalid Operation).
- Uploads from an unregistered device (User-Identify not registered): HTTP 401 without a challenge.
- Register from a device outside `device_ids_allowed`: 200 with StatusCode 4.
- Objects whose id is in `refuse_object_ids`: StatusCode 1 (Other Error) in their status slot.
- SubscribeNotifications from an unregistered device: HTTP 401, as uploads; `fail_notifications`:
  503. Each notification is answered with its own status (Id = NotificationID); every one received
  is kept in `notifications`, repeats included, so tests can count them.
HTTP/1.0 (one request per connection) so stop() really leaves nothing listening or serving.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import httpx

REALM = "viid-test"
_DIGEST_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')
_ID41 = re.compile(r"[0-9]{41}")
_ID48 = re.compile(r"[0-9]{48}")
_ID20 = re.compile(r"[0-9]{20}")
_ID33 = re.compile(r"[0-9]{33}")
_TIME = re.compile(r"[0-9]{14}")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _now_text(offset_s: float) -> str:
    return (datetime.now() + timedelta(seconds=offset_s)).strftime("%Y%m%d%H%M%S")


class ViidServer:
    def __init__(
        self,
        username: str,
        password: str,
        device_ids_allowed: Iterable[str] | None = None,
        port: int = 0,
        server_id: str = "31000000005030000001",
    ) -> None:
        self.username = username
        self.password = password
        self.device_ids_allowed = set(device_ids_allowed) if device_ids_allowed is not None else None
        self.server_id = server_id
        self.port = port
        self.lock = threading.Lock()
        self.registered: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.responses: list[tuple[str, str, int]] = []
        self.persons: list[dict[str, Any]] = []
        self.faces: list[dict[str, Any]] = []
        self.keepalives = 0
        self.errors: list[str] = []
        self.fail_uploads = False  # uploads answered 503
        self.notifications: list[dict[str, Any]] = []
        self.notification_batches: list[list[str]] = []  # the NotificationIDs of each POST
        self.fail_notifications = False  # SubscribeNotifications answered 503
        self.refuse_object_ids: set[str] = set()
        self.clock_offset_s = 0.0  # added to the time this server reports
        self._nonces: set[str] = set()
        self._opaque = secrets.token_hex(8)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ViidServer:
        server = self

        class Handler(_Handler):
            viid = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="viid-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def restart(self) -> None:
        """Same port, but registrations, nonces and opaque are forgotten, as after a real restart."""
        self.stop()
        with self.lock:
            self.registered.clear()
            self._nonces.clear()
            self._opaque = secrets.token_hex(8)
        self.start()

    def __enter__(self) -> ViidServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- digest ---------------------------------------------------------------------------------

    def challenge(self) -> str:
        nonce = secrets.token_hex(16)
        with self.lock:
            self._nonces.add(nonce)
            opaque = self._opaque
        return f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", opaque="{opaque}", algorithm=MD5'

    def check_digest(self, header: str | None, method: str, uri: str) -> bool:
        if not header or not header.lower().startswith("digest "):
            return False
        p = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _DIGEST_PARAM.finditer(header[7:])
        }
        with self.lock:
            nonce_ok = p.get("nonce") in self._nonces
            opaque = self._opaque
        if not nonce_ok or p.get("opaque") != opaque or p.get("realm") != REALM or p.get("username") != self.username:
            return False
        if p.get("uri") != uri or p.get("qop") != "auth" or not p.get("nc") or not p.get("cnonce"):
            return False
        ha1 = _md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        return secrets.compare_digest(expected, p.get("response") or "")

    # --- validation -----------------------------------------------------------------------------

    def validate(self, kind: str, obj: Any) -> None:
        errs: list[str] = []
        if not isinstance(obj, dict):
            self._err(f"{kind}: object is not a JSON object")
            return
        id_key, type_digits = ("PersonID", "01") if kind == "person" else ("FaceID", "06")
        oid, src, dev = obj.get(id_key), obj.get("SourceID"), obj.get("DeviceID")
        if not isinstance(dev, str) or not _ID20.fullmatch(dev):
            errs.append(f"DeviceID {dev!r} is not 20 digits")
        if not isinstance(src, str) or not _ID41.fullmatch(src) or src[20:22] != "02":
            errs.append(f"SourceID {src!r} is not a 41-digit image id")
        elif isinstance(dev, str) and src[:20] != dev:
            errs.append(f"SourceID {src} is not from DeviceID {dev}")
        if not isinstance(oid, str) or not _ID48.fullmatch(oid):
            errs.append(f"{id_key} {oid!r} is not 48 digits")
        else:
            if oid[:41] != src:
                errs.append(f"{id_key} {oid} does not start with SourceID {src}")
            if oid[41:43] != type_digits:
                errs.append(f"{id_key} {oid} type digits {oid[41:43]} != {type_digits}")
        if obj.get("InfoKind") not in (0, 1, 2):
            errs.append(f"InfoKind {obj.get('InfoKind')!r}")
        box = [obj.get(k) for k in ("LeftTopX", "LeftTopY", "RightBtmX", "RightBtmY")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in box):
            errs.append(f"box {box!r} not non-negative ints")
        elif box[0] >= box[2] or box[1] >= box[3]:  # type: ignore[operator]
            errs.append(f"box {box!r} empty")
        prefix = "Person" if kind == "person" else "Face"
        for key in ("LocationMarkTime", f"{prefix}AppearTime", f"{prefix}DisAppearTime"):
            if not isinstance(obj.get(key), str) or not _TIME.fullmatch(obj[key]):
                errs.append(f"{key} {obj.get(key)!r} is not yyyyMMddHHmmss")
        images = _dig(obj, "SubImageList", "SubImageInfoObject")
        if not isinstance(images, list) or not images:
            errs.append("SubImageList.SubImageInfoObject missing or empty")
        else:
            for img in images:
                errs.extend(self._validate_image(img))
        for e in errs:
            self._err(f"{kind} {oid}: {e}")

    @staticmethod
    def _validate_image(img: Any) -> list[str]:
        if not isinstance(img, dict):
            return ["sub-image is not an object"]
        errs = []
        iid = img.get("ImageID")
        if not isinstance(iid, str) or not _ID41.fullmatch(iid) or iid[20:22] != "02":
            errs.append(f"ImageID {iid!r} is not a 41-digit image id")
        if img.get("Type") not in {"01", "02", "10", "11", "14"}:
            errs.append(f"image Type {img.get('Type')!r}")
        if img.get("FileFormat") != "Jpeg":
            errs.append(f"FileFormat {img.get('FileFormat')!r}")
        if not isinstance(img.get("EventSort"), int):
            errs.append(f"EventSort {img.get('EventSort')!r} not int")
        if not isinstance(img.get("ShotTime"), str) or not _TIME.fullmatch(img["ShotTime"]):
            errs.append(f"ShotTime {img.get('ShotTime')!r}")
        for k in ("Width", "Height"):
            if not isinstance(img.get(k), int) or img[k] <= 0:
                errs.append(f"{k} {img.get(k)!r}")
        try:
            data = base64.b64decode(img.get("Data") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            data = b""
        if not data.startswith(b"\xff\xd8"):
            errs.append(f"image {iid}: Data is not base64 JPEG")
        return errs

    def validate_notification(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            self._err("notification is not a JSON object")
            return
        nid = obj.get("NotificationID")
        errs: list[str] = []
        if not isinstance(nid, str) or not _ID33.fullmatch(nid):
            errs.append(f"NotificationID {nid!r} is not 33 digits")
        if not isinstance(obj.get("SubscribeID"), str) or not obj["SubscribeID"]:
            errs.append(f"SubscribeID {obj.get('SubscribeID')!r}")
        if not isinstance(obj.get("TriggerTime"), str) or not _TIME.fullmatch(obj["TriggerTime"]):
            errs.append(f"TriggerTime {obj.get('TriggerTime')!r} is not yyyyMMddHHmmss")
        persons = _dig(obj, "PersonObjectList", "PersonObject") or []
        faces = _dig(obj, "FaceObjectList", "FaceObject") or []
        if not isinstance(persons, list) or not isinstance(faces, list) or not (persons or faces):
            errs.append("neither PersonObjectList nor FaceObjectList holds records")
        else:
            for person in persons:
                self.validate("person", person)
            for face in faces:
                self.validate("face", face)
            ids = [str(p.get("PersonID")) for p in persons if isinstance(p, dict)]
            ids += [str(f.get("FaceID")) for f in faces if isinstance(f, dict)]
            if obj.get("InfoIDs") != ",".join(ids):
                errs.append(f"InfoIDs {obj.get('InfoIDs')!r} do not name the records {ids}")
        for e in errs:
            self._err(f"notification {nid}: {e}")

    def notifications_of(self, subscribe_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [n for n in self.notifications if n.get("SubscribeID") == subscribe_id]

    def _err(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


class _Handler(BaseHTTPRequestHandler):
    viid: ViidServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _reply(self, code: int, body: Any = None, challenge: bool = False) -> None:
        v = self.viid
        with v.lock:
            v.responses.append((self.command, self.path, code))
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if challenge:
            self.send_header("WWW-Authenticate", v.challenge())
        self.send_header("Content-Type", "application/VIID+JSON;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, oid: str, text: str = "OK") -> dict[str, Any]:
        return {
            "RequestURL": self.path,
            "StatusCode": code,
            "StatusString": text,
            "Id": oid,
            "LocalTime": _now_text(self.viid.clock_offset_s),
        }

    def _handle(self, method: str) -> None:
        v = self.viid
        with v.lock:
            v.requests.append((method, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not v.check_digest(self.headers.get("Authorization"), method, self.path):
            self._reply(401, challenge=True)
            return
        body: Any = None
        if raw:
            ctype = (self.headers.get("Content-Type") or "").lower()
            if not ctype.startswith("application/viid+json"):
                v._err(f"{self.path}: Content-Type {ctype!r}")
            try:
                body = json.loads(raw)
            except ValueError:
                v._err(f"{self.path}: body is not JSON")
                self._reply(400)
                return
        route = (method, self.path)
        user = self.headers.get("User-Identify") or ""
        if route == ("POST", "/VIID/System/Register"):
            dev = _dig(body, "RegisterObject", "DeviceID")
            if v.device_ids_allowed is not None and dev not in v.device_ids_allowed:
                self._reply(200, {"ResponseStatusObject": self._status(4, str(dev), "Invalid Operation")})
                return
            with v.lock:
                v.registered.add(str(dev))
            self._reply(200, {"ResponseStatusObject": self._status(0, str(dev))})
        elif route == ("POST", "/VIID/System/Keepalive"):
            dev = str(_dig(body, "KeepaliveObject", "DeviceID"))
            with v.lock:
                known = dev in v.registered
                v.keepalives += known
            code, text = (0, "OK") if known else (4, "Invalid Operation: not registered")
            self._reply(200, {"ResponseStatusObject": self._status(code, dev, text)})
        elif route == ("POST", "/VIID/System/UnRegister"):
            dev = str(_dig(body, "UnRegisterObject", "DeviceID"))
            with v.lock:
                v.registered.discard(dev)
            self._reply(200, {"ResponseStatusObject": self._status(0, dev)})
        elif route == ("GET", "/VIID/System/Time"):
            self._reply(
                200,
                {
                    "SystemTimeObject": {
                        "VIIDServerID": v.server_id,
                        "TimeMode": "1",
                        "LocalTime": _now_text(v.clock_offset_s),
                        "TimeZone": "Asia/Shanghai",
                    }
                },
            )
        elif route in (("POST", "/VIID/Persons"), ("POST", "/VIID/Faces")):
            self._upload(body, user)
        elif route == ("POST", "/VIID/SubscribeNotifications"):
            self._notifications(body, user)
        else:
            self._reply(404)

    def _notifications(self, body: Any, user: str) -> None:
        v = self.viid
        with v.lock:
            known = user in v.registered
            failing = v.fail_notifications
        if not known:
            self._reply(401)
            return
        if failing:
            self._reply(503)
            return
        objs = _dig(body, "SubscribeNotificationListObject", "SubscribeNotificationObject")
        if not isinstance(objs, list) or not objs:
            v._err(f"{self.path}: SubscribeNotificationListObject.SubscribeNotificationObject is not a list")
            self._reply(400)
            return
        statuses = []
        with v.lock:
            v.notification_batches.append([str(o.get("NotificationID")) for o in objs if isinstance(o, dict)])
        for obj in objs:
            v.validate_notification(obj)
            with v.lock:
                v.notifications.append(obj if isinstance(obj, dict) else {})
            nid = obj.get("NotificationID") if isinstance(obj, dict) else ""
            statuses.append(self._status(0, str(nid)))
        self._reply(200, {"ResponseStatusListObject": {"ResponseStatusObject": statuses}})

    def _upload(self, body: Any, user: str) -> None:
        v = self.viid
        with v.lock:
            known = user in v.registered
            failing = v.fail_uploads
        if not known:
            self._reply(401)
            return
        if failing:
            self._reply(503)
            return
        person = self.path == "/VIID/Persons"
        kind, outer, inner, id_key = (
            ("person", "PersonListObject", "PersonObject", "PersonID")
            if person
            else ("face", "FaceListObject", "FaceObject", "FaceID")
        )
        objs = _dig(body, outer, inner)
        if not isinstance(objs, list):
            v._err(f"{self.path}: {outer}.{inner} is not a list")
            self._reply(400)
            return
        statuses = []
        for obj in objs:
            v.validate(kind, obj)
            oid = str(obj.get(id_key)) if isinstance(obj, dict) else ""
            with v.lock:
                refused = oid in v.refuse_object_ids
                if not refused:
                    (v.persons if person else v.faces).append(obj)
            statuses.append(self._status(1, oid, "Other Error") if refused else self._status(0, oid))
        self._reply(200, {"ResponseStatusListObject": {"ResponseStatusObject": statuses}})


def _dig(body: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


class Subscriber:
    """The upper platform's side of /VIID/Subscribes: subscribes at a lower platform (the gateway),
    lists and cancels, with HTTP digest and User-Identify as platforms send them. The bodies follow
    the published GA/T 1400 subscription examples (a 33-digit SubscribeID, ResourceClass 4 with the
    view library's ID, or device IDs in ResourceURI)."""

    def __init__(
        self, base_url: str, username: str, password: str, platform_id: str, tz: str = "Asia/Shanghai"
    ) -> None:
        self.platform_id = platform_id
        self.tz = ZoneInfo(tz)  # the platform's wall clock, in which it writes BeginTime and EndTime
        self.http = httpx.Client(
            base_url=base_url,
            auth=httpx.DigestAuth(username, password),
            headers={"User-Identify": platform_id, "Content-Type": "application/VIID+JSON;charset=UTF-8"},
            timeout=10.0,
            trust_env=False,
        )
        self._seq = 0

    def new_id(self) -> str:
        """A 33-digit SubscribeID: unit code (12) + 03 + time (14) + sequence (5)."""
        self._seq += 1
        return f"{self.platform_id[:12]}03{datetime.now(self.tz):%Y%m%d%H%M%S}{self._seq:05d}"

    def subscribe(
        self,
        subscribe_id: str,
        receive_addr: str,
        *,
        resource_uri: str,
        detail: str = "11,12",
        title: str = "人员人脸订阅",
        end_in_s: float = 3600.0,
        report_interval: int = 0,
        method: str = "POST",
        **extra: Any,
    ) -> httpx.Response:
        now = datetime.now(self.tz)
        obj: dict[str, Any] = {
            "SubscribeID": subscribe_id,
            "Title": title,
            "SubscribeDetail": detail,
            "ResourceClass": 4,
            "ResourceURI": resource_uri,
            "ApplicantName": "admin",
            "ApplicantOrg": "市局视图库",
            "BeginTime": (now - timedelta(seconds=60)).strftime("%Y%m%d%H%M%S"),
            "EndTime": (now + timedelta(seconds=end_in_s)).strftime("%Y%m%d%H%M%S"),
            "ReceiveAddr": receive_addr,
            "ReportInterval": report_interval,
            "Reason": "测试",
            "OperateType": 0,
        }
        obj.update(extra)
        body = {"SubscribeListObject": {"SubscribeObject": [obj]}}
        return self.http.request(method, "/VIID/Subscribes", content=json.dumps(body, ensure_ascii=False))

    def cancel(self, subscribe_id: str, reason: str = "不再需要") -> httpx.Response:
        body = {
            "SubscribeObject": {
                "SubscribeID": subscribe_id,
                "SubscribeCancelOrg": "市局视图库",
                "SubscribeCancelPerson": "admin",
                "CancelTime": datetime.now(self.tz).strftime("%Y%m%d%H%M%S"),
                "CancelReason": reason,
            }
        }
        return self.http.put(f"/VIID/Subscribes/{subscribe_id}", content=json.dumps(body, ensure_ascii=False))

    def listed(self) -> dict[str, dict[str, Any]]:
        answer = self.http.get("/VIID/Subscribes")
        answer.raise_for_status()
        objs = answer.json()["SubscribeListObject"]["SubscribeObject"]
        return {o["SubscribeID"]: o for o in objs}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def statuses(answer: httpx.Response) -> Iterator[tuple[str, int]]:
    """(Id, StatusCode) of each status in a ResponseStatusListObject answer."""
    for status in answer.json()["ResponseStatusListObject"]["ResponseStatusObject"]:
        yield str(status["Id"]), int(status["StatusCode"])
