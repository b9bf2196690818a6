#!/usr/bin/env python3
"""Drive the ThingSpace simulator with Verizon's own generated Python SDK.

Usage: thingspace_sdk_compat.py BASE_URL   (e.g. http://127.0.0.1:8090)

The SDK (PyPI `sdksio-verizon-apis-sdk`, module `verizon`) has no base-URL option: its
servers come from the class-level table `Configuration.environments[Environment][Server]`.
We point the PRODUCTION entries for the three servers the Connectivity Management calls
use (THINGSPACE = .../api, OAUTH_SERVER = .../api/ts/v1, M2M = .../api/m2m) at the
simulator before building any client. Queueing MO messages goes through the simulator's
control API with plain urllib (the SDK has no such call, of course).

Prints one line per check and `N passed, M failed` at the end; exits non-zero on failure.
"""

import json
import re
import sys
import traceback
import urllib.request

from verizon.configuration import Configuration, Environment, Server
from verizon.exceptions.connectivity_management_result_exception import (
    ConnectivityManagementResultException,
)
from verizon.exceptions.oauth_provider_exception import OauthProviderException
from verizon.http.auth.thingspace_oauth import ThingspaceOauthCredentials
from verizon.http.auth.vz_m2m_token import VZM2mTokenCredentials
from verizon.models.device_id import DeviceId
from verizon.models.log_in_request import LogInRequest
from verizon.models.register_callback_request import RegisterCallbackRequest
from verizon.models.sms_send_request import SMSSendRequest
from verizon.verizon_client import VerizonClient

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8090"
ACCOUNT = "0000123456-00001"
CLIENT_KEY, CLIENT_SECRET = "demo-key", "demo-secret"
USERNAME, PASSWORD = "demo-user", "demo-pass"

# Point the SDK's PRODUCTION servers at the simulator (see the module doc).
Configuration.environments[Environment.PRODUCTION][Server.THINGSPACE] = BASE + "/api"
Configuration.environments[Environment.PRODUCTION][Server.OAUTH_SERVER] = BASE + "/api/ts/v1"
Configuration.environments[Environment.PRODUCTION][Server.M2M] = BASE + "/api/m2m"

passed = 0
failed = 0
state = {}


def check(name):
    """Run the decorated function as a named check and count the outcome."""

    def run(function):
        global passed, failed
        try:
            function()
            passed += 1
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - every failure is reported and counted
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(limit=3)
        return function

    return run


def control(method, path, body=None):
    """Call the simulator's control API (JSON in, JSON out)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def oauth_credentials(token=None):
    return ThingspaceOauthCredentials(oauth_client_id=CLIENT_KEY, oauth_client_secret=CLIENT_SECRET, oauth_token=token)


def session_client():
    """A client carrying both the bearer and the VZ-M2M-Token session."""
    return VerizonClient(
        thingspace_oauth_credentials=oauth_credentials(state["token"]),
        vz_m2m_token_credentials=VZM2mTokenCredentials(vz_m2m_token=state["session"]),
    )


def next_token(response):
    location = response.headers.get("Location") or response.headers.get("location")
    assert location, f"202 without Location: {response.headers}"
    match = re.fullmatch(r"/sms/([^/]+)/history\?next=(.+)", location)
    assert match, f"unexpected Location {location!r}"
    assert match.group(1) == ACCOUNT
    return match.group(2)


@check("oauth: client credentials give a bearer valid for 3600 s, reused while valid")
def _():
    client = VerizonClient(thingspace_oauth_credentials=oauth_credentials())
    manager = client.auth_managers["thingspace_oauth"]
    token = manager.fetch_token()
    assert token.access_token, token
    assert token.token_type == "Bearer", token.token_type
    assert token.expires_in == 3600, token.expires_in
    again = manager.fetch_token()
    assert again.access_token == token.access_token
    state["token"] = token


@check("oauth: a wrong secret raises OauthProviderException(invalid_client)")
def _():
    bad = ThingspaceOauthCredentials(oauth_client_id=CLIENT_KEY, oauth_client_secret="wrong")
    client = VerizonClient(thingspace_oauth_credentials=bad)
    try:
        client.auth_managers["thingspace_oauth"].fetch_token()
    except OauthProviderException as error:
        assert error.response_code == 401, error.response_code
        assert error.error == "invalid_client", error.error
    else:
        raise AssertionError("no exception")


@check("session: login returns a GUID session token")
def _():
    client = VerizonClient(thingspace_oauth_credentials=oauth_credentials(state["token"]))
    response = client.session_management.start_connectivity_management_session(LogInRequest(username=USERNAME, password=PASSWORD))
    assert response.status_code == 200, response.status_code
    token = response.body.session_token
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", token), token
    state["session"] = token


@check("session: a wrong password maps to ConnectivityManagementResultException")
def _():
    client = VerizonClient(thingspace_oauth_credentials=oauth_credentials(state["token"]))
    try:
        client.session_management.start_connectivity_management_session(LogInRequest(username=USERNAME, password="wrong"))
    except ConnectivityManagementResultException as error:
        assert error.response_code == 400
        assert error.error_code == "UnifiedWebService.REQUEST_FAILED.LoginFailed", error.error_code
    else:
        raise AssertionError("no exception")


@check("callbacks: register EnhancedConnectivityService")
def _():
    request = RegisterCallbackRequest(
        name="EnhancedConnectivityService", url="http://127.0.0.1:9/thingspace", username="cb-user", password="cb-pass"
    )
    response = session_client().connectivity_callbacks.register_callback(ACCOUNT, request)
    assert response.status_code == 200
    assert response.body.account_name == ACCOUNT
    assert response.body.service_name == "EnhancedConnectivityService"


@check("callbacks: list shows the listener")
def _():
    response = session_client().connectivity_callbacks.list_registered_callbacks(ACCOUNT)
    assert response.status_code == 200
    listeners = response.body
    assert isinstance(listeners, list) and len(listeners) == 1, listeners
    assert listeners[0].service_name == "EnhancedConnectivityService"
    assert listeners[0].url == "http://127.0.0.1:9/thingspace"
    assert listeners[0].username == "cb-user"


@check("history: 250 queued messages come as 100 (202) + 100 (202) + 50 (200), following next")
def _():
    sent = control("POST", "/simulator/mo", {"account": ACCOUNT, "message": "compat", "count": 250, "deliver": "queue"})
    assert sent == {"sent": 250, "pushed": 0, "queued": 250}, sent
    client = session_client()
    statuses, texts, token = [], [], None
    while True:
        response = client.sms.list_devices_sms_messages(ACCOUNT, next=token)
        statuses.append(response.status_code)
        page = response.body
        texts += [message.message for message in page.messages]
        assert page.has_more_data == (response.status_code == 202)
        for message in page.messages:
            assert message.device_ids and message.device_ids[0].kind == "mdn", message.device_ids
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", message.timestamp), message.timestamp
        if response.status_code != 202:
            break
        token = next_token(response)
    assert statuses == [202, 202, 200], statuses
    assert texts == [f"compat #{i}" for i in range(1, 251)], texts[:3]
    stats = control("GET", "/simulator/stats")["accounts"][ACCOUNT]
    assert stats["queued"] == 0 and stats["acknowledged"] == 250, stats


@check("history: a page is served again until acknowledged (no next)")
def _():
    control("POST", "/simulator/mo", {"account": ACCOUNT, "message": "again", "count": 150, "deliver": "queue"})
    client = session_client()
    first = client.sms.list_devices_sms_messages(ACCOUNT)
    second = client.sms.list_devices_sms_messages(ACCOUNT)
    assert first.status_code == second.status_code == 202
    assert [m.message for m in first.body.messages] == [m.message for m in second.body.messages]
    last = client.sms.list_devices_sms_messages(ACCOUNT, next=next_token(second))
    assert last.status_code == 200 and len(last.body.messages) == 50


@check("history: the Global IoT controller (get_sms_messages) reads the same endpoint")
def _():
    control("POST", "/simulator/mo", {"account": ACCOUNT, "message": "gio", "count": 3, "deliver": "queue"})
    response = session_client().device_sms_messaging.get_sms_messages(ACCOUNT)
    assert response.status_code == 200, response.status_code
    assert [m.message for m in response.body.messages] == ["gio #1", "gio #2", "gio #3"]


@check("sms: startCallbacks answers success")
def _():
    response = session_client().sms.start_queued_sms_delivery(ACCOUNT)
    assert response.status_code == 200
    assert response.body.success is True


@check("sms: MT send returns a request id")
def _():
    request = SMSSendRequest(account_name=ACCOUNT, sms_message="reboot", device_ids=[DeviceId(id="7022895555", kind="mdn")])
    response = session_client().sms.send_sms_to_device(request)
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", response.body.request_id), response.body.request_id
    assert control("GET", "/simulator/stats")["mtSent"] == 1


@check("sms: MT over 160 characters maps to SmsMessage.TooLong")
def _():
    request = SMSSendRequest(account_name=ACCOUNT, sms_message="x" * 161, device_ids=[DeviceId(id="7022895555", kind="mdn")])
    try:
        session_client().sms.send_sms_to_device(request)
    except ConnectivityManagementResultException as error:
        assert error.error_code == "UnifiedWebService.INPUT_INVALID.SmsMessage.TooLong", error.error_code
    else:
        raise AssertionError("no exception")


@check("callbacks: deregister, then the list is empty")
def _():
    client = session_client()
    response = client.connectivity_callbacks.deregister_callback(ACCOUNT, "EnhancedConnectivityService")
    assert response.status_code == 200
    assert response.body.service_name == "EnhancedConnectivityService"
    assert client.connectivity_callbacks.list_registered_callbacks(ACCOUNT).body in ([], None)


@check("session: logout returns the invalidated token, which then fails")
def _():
    client = session_client()
    response = client.session_management.end_connectivity_management_session()
    assert response.status_code == 200
    assert response.body.session_token == state["session"]
    try:
        client.sms.list_devices_sms_messages(ACCOUNT)
    except ConnectivityManagementResultException as error:
        assert error.error_code == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid", error.error_code
    else:
        raise AssertionError("no exception")


print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
