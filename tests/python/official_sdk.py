"""Drives cl-sim with VMware's official Python SDK (vmware-vcenter, pinned in requirements.txt).

Three protocols of one third-party client, each running the same workflows:

* ``jsonrpc``: the SDK's default client, ``create_vsphere_client`` (vAPI JSON-RPC on ``POST /api``);
* ``api``: the SDK's REST connector against ``/api``;
* ``rest``: the SDK's REST connector against the legacy ``/rest``.

Workflows: a full upload (update session, add, PUT, validate, complete, wait for DONE), a full
download (download session, list, prepare, poll, GET, checksum compare), publish and subscribe
(probe, on-demand subscribed library, sync, item content, evict), then error paths asserted
by the SDK's exception classes. The simulator is reached as ``cl-sim`` prints it: the CL_SIM_URL,
CL_SIM_USERNAME, CL_SIM_PASSWORD, CL_SIM_DATASTORE, CL_SIM_DATASTORE_NAME and CL_SIM_CA environment
variables.

Usage: python official_sdk.py [jsonrpc|api|rest ...]   (all three when none is named)
"""

import hashlib
import json
import os
import re
import sys
import time
import uuid
from urllib.parse import urlsplit

import requests
from com.vmware.cis_client import Session
from com.vmware.content.library.item import downloadsession_client, updatesession_client
from com.vmware.content.library.item_client import (
    DownloadSession, DownloadSessionModel, File as ItemFile, TransferStatus, UpdateSession,
    UpdateSessionModel)
from com.vmware.content.library_client import (
    Item, ItemModel, PublishInfo, StorageBacking, SubscribedItem, SubscriptionInfo)
from com.vmware.content_client import Library, LibraryModel, LocalLibrary, SubscribedLibrary
from com.vmware.vcenter_client import Datastore
from com.vmware.vapi.std import errors_client as errors
from vmware.vapi.bindings.converter import RestConverter
from vmware.vapi.bindings.error import VapiError
from vmware.vapi.lib.connect import get_requests_connector
from vmware.vapi.lib.rest import OperationRestMetadata
from vmware.vapi.security.session import create_session_security_context
from vmware.vapi.security.user_password import create_user_password_security_context
from vmware.vapi.stdlib.client.factories import StubConfigurationFactory
from vmware.vapi.vsphere.client import create_vsphere_client

DownloadFile = downloadsession_client.File
UpdateFile = updatesession_client.File
POLL_LIMIT_S = 30


def http_session(ca):
    s = requests.Session()
    s.verify = ca
    # requests lets REQUESTS_CA_BUNDLE (and proxy variables) override a session's own settings;
    # this test trusts exactly the simulator's CA and talks to loopback only.
    s.trust_env = False
    return s


class Stubs:
    """The services a transfer needs, bound to one logged-in client."""

    def __init__(self, config, token, logout):
        self.token = token
        self.logout = logout
        self.local_library = LocalLibrary(config)
        self.library = Library(config)
        self.item = Item(config)
        self.item_file = ItemFile(config)
        self.download = DownloadSession(config)
        self.download_file = DownloadFile(config)
        self.update = UpdateSession(config)
        self.update_file = UpdateFile(config)
        self.subscribed_library = SubscribedLibrary(config)
        self.subscribed_item = SubscribedItem(config)

    def all(self):
        return [self.local_library, self.library, self.item, self.item_file, self.download,
                self.download_file, self.update, self.update_file, self.subscribed_library,
                self.subscribed_item]


def connect_jsonrpc(env, user, password):
    client = create_vsphere_client(urlsplit(env["url"]).netloc, user, password,
                                   session=http_session(env["ca"]))
    content = client.content
    stubs = Stubs.__new__(Stubs)
    # The client logs out when it is garbage-collected: keep it as long as the stubs.
    stubs.client = client
    stubs.token = client.get_session_id()
    stubs.logout = client.session_svc.delete
    stubs.local_library = content.LocalLibrary
    stubs.library = content.Library
    stubs.item = content.library.Item
    stubs.item_file = content.library.item.File
    stubs.download = content.library.item.DownloadSession
    stubs.download_file = content.library.item.downloadsession.File
    stubs.update = content.library.item.UpdateSession
    stubs.update_file = content.library.item.updatesession.File
    stubs.subscribed_library = content.SubscribedLibrary
    stubs.subscribed_item = content.library.SubscribedItem
    return stubs


def rest_config(env, base, http, context):
    connector = get_requests_connector(session=http, msg_protocol="rest", url=env["url"] + base)
    if context is not None:
        connector.set_security_context(context)
    return StubConfigurationFactory.new_std_configuration(connector)


def connect_api(env, user, password):
    """The SDK's REST connector on /api.

    SDK 9.1.1's generated stubs fix the vAPI-REST message format (results wrapped in
    ``{"value": …}``), which /api does not use; the connector's OpenAPI format is the SDK's own mode
    for such servers, so each stub is switched to it. That format carries no session security
    context, so the token rides as the ``vmware-api-session-id`` header of the HTTP session.

    SDK 9.1.1 defect: a parameter its REST metadata lists as a dispatch parameter (``Item.list``'s
    ``library_id``, ``File.get``'s ``file_name`` / ``name``) goes out as a bare ``?library_id`` with
    no value. Such parameters are made ordinary query parameters here, which is what /api expects.

    SDK 9.1.1 defect: in this format an error's class comes from the operation's throws clauses,
    which carry no status codes, so every error raises as the operation's first declared class;
    an operation that declares no errors (``Library.list``) raises ``UnresolvedError``. The
    `error_type` the server sent survives in the exception, and the error paths check that.
    """
    http = http_session(env["ca"])

    def openapi_format(stub):
        api = stub._api_interface
        for metadata in api._rest_metadata.values():
            for name, value in list(metadata._dispatch_parameters.items()):
                if value == "null":
                    metadata._url_template = metadata._url_template.replace("?" + name, "")
                    metadata._query_parameters[name] = name
                    del metadata._dispatch_parameters[name]
        api._is_vapi_rest = False
        api._rest_converter_mode = RestConverter.SWAGGER_REST
        provider = api._api_provider
        provider = provider.get_api_provider() if hasattr(provider, "get_api_provider") else provider
        provider.set_rest_format(False)
        return stub

    login = rest_config(env, "/api", http, create_user_password_security_context(user, password))
    token = openapi_format(Session(login)).create()
    http.headers["vmware-api-session-id"] = token
    config = rest_config(env, "/api", http, None)
    stubs = Stubs(config, token, openapi_format(Session(config)).delete)
    for stub in stubs.all():
        openapi_format(stub)
    return stubs


# vCenter's /rest routes (SDK 9.1.1 ships only the /api ones), from the project's operation table
# (`cargo xtask official-sdk` writes them to the file CL_REST_ROUTES names): (service, operation) ->
# (method, URL template under /rest, path variables, query parameters). With no body parameter
# named, the SDK puts every other input field in the body, which is the /rest wrapper form.
def load_rest_routes():
    path = os.environ.get("CL_REST_ROUTES")
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return {(service, op): (method, template, variables, query)
                for service, op, method, template, variables, query in json.load(f)}


REST_ROUTES = load_rest_routes()


def connect_rest(env, user, password):
    """The SDK's REST connector in its vAPI-REST format (its stubs' own) on /rest."""
    http = http_session(env["ca"])

    def rest_routes(stub):
        api = stub._api_interface
        provider = api._api_provider
        provider = provider.get_api_provider() if hasattr(provider, "get_api_provider") else provider
        service = api._iface_id.get_name()
        for (svc, op), (method, template, path, query) in REST_ROUTES.items():
            if svc == service:
                metadata = OperationRestMetadata(http_method=method, url_template=template,
                                                 path_variables=path, query_parameters=query)
                api._rest_metadata[op] = metadata
                provider.add_rest_metadata(service, op, metadata)
        return stub

    if not REST_ROUTES:
        raise AssertionError("the /rest routes are missing: run through `cargo xtask official-sdk`")
    login = rest_config(env, "/rest", http, create_user_password_security_context(user, password))
    token = rest_routes(Session(login)).create()
    config = rest_config(env, "/rest", http, create_session_security_context(token))
    stubs = Stubs(config, token, rest_routes(Session(config)).delete)
    for stub in stubs.all():
        rest_routes(stub)
    return stubs


CONNECT = {"jsonrpc": connect_jsonrpc, "api": connect_api, "rest": connect_rest}


def wait_for(what, probe, done):
    deadline = time.monotonic() + POLL_LIMIT_S
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value} after {POLL_LIMIT_S} s")
        time.sleep(0.05)


def error_type_of(error):
    """The `error_type` the server sent, also when the SDK could not resolve the error's class."""
    if getattr(error, "error_type", None) is not None:
        return str(error.error_type)
    value = error.get_error_value()
    if value is None or not value.has_field("error_type"):
        return None
    field = value.get_field("error_type")
    field = field.value if hasattr(field, "is_set") else field  # an optional wrapper, or not
    return getattr(field, "value", None)


def expect(error_class, call, what, by_type=False):
    """Asserts that `call` raises `error_class`. With `by_type`, the error's `error_type` decides
    instead (see `connect_api` for why the class cannot there)."""
    wanted = re.sub(r"(?<!^)(?=[A-Z])", "_", error_class.__name__).upper()
    try:
        call()
    except error_class as e:
        print(f"    ok  {what}: {type(e).__name__}")
        return
    except VapiError as e:
        if by_type and error_type_of(e) == wanted:
            print(f"    ok  {what}: error_type {wanted} (raised as {type(e).__name__})")
            return
        raise AssertionError(f"{what}: expected {error_class.__name__}, got {type(e).__name__}: {e}") from e
    except Exception as e:  # noqa: BLE001 (the point is to name what came instead)
        raise AssertionError(f"{what}: expected {error_class.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"{what}: expected {error_class.__name__}, got success")


def upload(sdk, env, library_id, name, payload):
    item = sdk.item.create(ItemModel(library_id=library_id, name=name, type="file"),
                           client_token=str(uuid.uuid4()))
    session = sdk.update.create(UpdateSessionModel(library_item_id=item), client_token=str(uuid.uuid4()))
    spec = UpdateFile.AddSpec(
        name="payload.bin", source_type=UpdateFile.SourceType.PUSH, size=len(payload),
        checksum_info=ItemFile.ChecksumInfo(algorithm=ItemFile.ChecksumAlgorithm.SHA256,
                                            checksum=hashlib.sha256(payload).hexdigest()))
    info = sdk.update_file.add(session, spec)
    assert info.status == TransferStatus.WAITING_FOR_TRANSFER, info.status
    put = http_session(env["ca"]).put(info.upload_endpoint.uri, data=payload, timeout=60)
    assert put.status_code in (200, 201, 204), put.status_code
    validation = sdk.update_file.validate(session)
    assert not validation.has_errors and not validation.missing_files, validation
    sdk.update.complete(session)
    state = wait_for("update session", lambda: sdk.update.get(session).state,
                     lambda s: s != UpdateSessionModel.State.ACTIVE)
    assert state == UpdateSessionModel.State.DONE, state
    sdk.update.delete(session)
    print(f"    ok  upload of {len(payload)} bytes: update session DONE")
    return item


def download(sdk, env, item, payload):
    session = sdk.download.create(DownloadSessionModel(library_item_id=item), client_token=str(uuid.uuid4()))
    files = sdk.download_file.list(session)
    assert [f.name for f in files] == ["payload.bin"], files
    sdk.download_file.prepare(session, "payload.bin", DownloadFile.EndpointType.HTTPS)
    info = wait_for("prepare", lambda: sdk.download_file.get(session, "payload.bin"),
                    lambda f: f.status in (DownloadFile.PrepareStatus.PREPARED, DownloadFile.PrepareStatus.ERROR))
    assert info.status == DownloadFile.PrepareStatus.PREPARED, info
    body = http_session(env["ca"]).get(info.download_endpoint.uri, timeout=60).content
    # vCenter reports a file's checksum once the file has been sent.
    info = sdk.download_file.get(session, "payload.bin")
    algorithm = (info.checksum_info.algorithm or ItemFile.ChecksumAlgorithm.SHA1).lower()
    assert hashlib.new(algorithm, body).hexdigest() == info.checksum_info.checksum.lower(), "checksum"
    assert info.size == len(body) and body == payload, "content"
    sdk.download.delete(session)
    print(f"    ok  download of {len(body)} bytes: {algorithm} checksum matches")


def update(sdk, protocol, library, item):
    """Item and library update as the SDK sends them; the version read is a precondition."""
    before = sdk.item.get(item)
    sdk.item.update(item, ItemModel(name="renamed", description="golden"))
    after = sdk.item.get(item)
    assert (after.name, after.description) == ("renamed", "golden"), after
    assert after.version != before.version and after.content_version == before.content_version, after
    expect(errors.ConcurrentChange,
           lambda: sdk.item.update(item, ItemModel(name="stale", version=before.version)),
           "item update bound to a stale version", by_type=protocol == "api")
    sdk.library.update(library, LibraryModel(description="updated by the official SDK"))
    got = sdk.library.get(library)
    assert (got.name, got.description) == (f"official-sdk-{protocol}", "updated by the official SDK"), got
    print("    ok  item and library update")


def subscribe(sdk, env, protocol, library, payload):
    """Publishes the library and subscribes a second one to it, on demand (the simulator reads
    its own feed over https, trusted by the thumbprint the probe returns), then syncs the
    library, fetches one item's content, and evicts it."""
    sdk.local_library.update(library, LibraryModel(publish_info=PublishInfo(
        published=True, authentication_method=PublishInfo.AuthenticationMethod.NONE)))
    url = sdk.local_library.get(library).publish_info.publish_url
    assert url.endswith(f"/cls/vcsp/lib/{library}/lib.json"), url
    info = SubscriptionInfo(subscription_url=url, on_demand=True, automatic_sync_enabled=False,
                            authentication_method=SubscriptionInfo.AuthenticationMethod.NONE)
    probe = sdk.subscribed_library.probe(info)
    assert probe.status == SubscribedLibrary.ProbeResult.Status.CERTIFICATE_ERROR, probe
    info.ssl_thumbprint = probe.ssl_thumbprint
    assert sdk.subscribed_library.probe(info).status == SubscribedLibrary.ProbeResult.Status.SUCCESS
    backing = StorageBacking(type=StorageBacking.Type.DATASTORE, datastore_id=env["datastore"])
    subscribed = sdk.subscribed_library.create(
        LibraryModel(name=f"subscribed-{protocol}", type=LibraryModel.LibraryType.SUBSCRIBED,
                     storage_backings=[backing], subscription_info=info),
        client_token=str(uuid.uuid4()))
    assert subscribed in sdk.subscribed_library.list()
    assert sdk.subscribed_library.get(subscribed).subscription_info.subscription_url == url
    sdk.subscribed_library.sync(subscribed)
    copies = wait_for("the sync's items", lambda: sdk.item.list(subscribed), lambda ids: len(ids) == 1)
    copy = sdk.item.get(copies[0])
    assert not copy.cached and copy.size == 0, copy
    sdk.subscribed_item.sync(copy.id, True)
    wait_for("the item's content", lambda: sdk.item.get(copy.id).cached, lambda cached: cached)
    assert sdk.item.get(copy.id).size == len(payload)
    sdk.subscribed_item.evict(copy.id)
    assert not sdk.item.get(copy.id).cached
    sdk.subscribed_library.evict(subscribed)
    sdk.subscribed_library.delete(subscribed)
    print("    ok  publish, probe, subscribe on demand, sync, an item's content, evict")


def error_paths(sdk, env, protocol, item):
    def expect_error(error_class, call, what):
        expect(error_class, call, what, by_type=protocol == "api")

    expect_error(errors.NotFound, lambda: sdk.download.get("no-such-session"), "get of an unknown session")
    busy = sdk.update.create(UpdateSessionModel(library_item_id=item), client_token=str(uuid.uuid4()))
    expect_error(errors.ResourceBusy,
           lambda: sdk.update.create(UpdateSessionModel(library_item_id=item), client_token=str(uuid.uuid4())),
           "second update session on one item")
    sdk.update.cancel(busy)
    expect_error(errors.NotAllowedInCurrentState, lambda: sdk.update.complete(busy), "complete of a canceled session")
    sdk.update.delete(busy)
    session = sdk.download.create(DownloadSessionModel(library_item_id=item), client_token=str(uuid.uuid4()))
    expect_error(errors.InvalidArgument,
           lambda: sdk.download_file.prepare(session, "no-such-file", DownloadFile.EndpointType.HTTPS),
           "prepare of a file the item lacks")
    sdk.download.delete(session)
    expect_error(errors.Unauthenticated, lambda: CONNECT[protocol](env, env["user"], "wrong-password"),
           "login with a wrong password")
    sdk.logout()
    expect_error(errors.Unauthenticated, lambda: sdk.library.list(), "call after logout")


def run(protocol, env):
    print(f"{protocol}:")
    sdk = CONNECT[protocol](env, env["user"], env["password"])
    if protocol == "jsonrpc":
        # As the SDK's own content-library samples find the datastore: by name.
        found = sdk.client.vcenter.Datastore.list(Datastore.FilterSpec(names={env["datastore_name"]}))
        assert [d.datastore for d in found] == [env["datastore"]], found
        print(f"    ok  datastore {env['datastore_name']!r} found by name")
    backing = StorageBacking(type=StorageBacking.Type.DATASTORE, datastore_id=env["datastore"])
    library = sdk.local_library.create(
        LibraryModel(name=f"official-sdk-{protocol}", type=LibraryModel.LibraryType.LOCAL,
                     storage_backings=[backing]),
        client_token=str(uuid.uuid4()))
    assert library in sdk.library.list()
    assert sdk.local_library.get(library).name == f"official-sdk-{protocol}"
    payload = os.urandom(3 << 20) + b"end"
    item = upload(sdk, env, library, "payload", payload)
    assert sdk.item.get(item).name == "payload" and sdk.item.list(library) == [item]
    assert [(f.name, f.size) for f in sdk.item_file.list(item)] == [("payload.bin", len(payload))]
    download(sdk, env, item, payload)
    update(sdk, protocol, library, item)
    subscribe(sdk, env, protocol, library, payload)
    error_paths(sdk, env, protocol, item)
    # Clean up with a fresh session (the error paths logged the first one out).
    sdk = CONNECT[protocol](env, env["user"], env["password"])
    sdk.item.delete(item)
    sdk.local_library.delete(library)
    sdk.logout()


def main():
    env = {key: os.environ[f"CL_SIM_{key.upper()}"] for key in ("url", "ca", "datastore", "datastore_name")}
    env["user"] = os.environ["CL_SIM_USERNAME"]
    env["password"] = os.environ["CL_SIM_PASSWORD"]
    protocols = sys.argv[1:] or list(CONNECT)
    for protocol in protocols:
        if protocol not in CONNECT:
            sys.exit(f"unknown protocol {protocol!r}; choose from {', '.join(CONNECT)}")
        run(protocol, env)
    print(f"official SDK: {', '.join(protocols)} passed")


if __name__ == "__main__":
    main()
