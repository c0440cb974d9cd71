"""Event Grid, as it delivers Key Vault's events to a webhook protected with Entra ID.

A subscription (``subscribe``) first does the handshake Event Grid does for its schema: a POST of one
``Microsoft.EventGrid.SubscriptionValidationEvent`` whose ``validationCode`` must come back as
``validationResponse`` with status 200 (Event Grid schema), or the CloudEvents ``OPTIONS`` request with
``WebHook-Request-Origin: eventgrid.azure.net`` that must be answered with ``WebHook-Allowed-Origin``
(CloudEvents schema). A refused handshake raises ``SubscriptionValidationError``, as creating the
subscription fails in Azure.

Then every secret set in the subscribed vault is delivered as ``Microsoft.KeyVault.SecretNewVersionCreated``
(``emit`` sends the other event types), one event per request as Event Grid does by default, from a thread of
the subscription (the vault's PUT does not wait), with a bearer token as Event Grid sends one: issued by the
emulator's Entra ID in the subscription's tenant for its audience (``--azure-active-directory-application-
id-or-uri``) to Event Grid's first-party application (``EVENT_GRID_APP_ID``), carrying the app roles assigned
to it (``AzureEventGridSecureWebhookSubscriber``). A delivery answered with a status other than 200-204 is
retried (``RETRY_DELAYS``, Event Grid's schedule shortened for tests); every attempt is recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from ._directory import AppRegistration, Directory, ResourceNotFound, TokenTarget
from ._keyvault import SecretVersion, Vault
from ._tokens import TokenIssuer

EVENT_GRID_APP_ID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"  # Microsoft.EventGrid, Azure's public cloud
EVENT_GRID_ORIGIN = "eventgrid.azure.net"
SECRET_NEW_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
RETRY_DELAYS = (0.2, 1.0)  # Event Grid waits 10 s, 30 s, 1 min ...; a test cannot
DELIVERED = range(200, 205)  # what Event Grid counts as delivered
TIMEOUT = 30.0  # Event Grid waits 30 s for an answer

Schema = Literal["EventGridSchema", "CloudEventSchema"]


class SubscriptionValidationError(Exception):
    """The webhook did not pass the handshake (``status`` it answered, 0 when it could not be reached)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event: its id and type, the status the webhook answered (0: not reached), its body."""

    event_id: str
    event_type: str
    attempt: int
    status: int
    body: bytes = field(repr=False)


class EventSubscription:
    """A webhook subscribed to a vault's events. ``attempts`` lists every POST made, in order."""

    def __init__(
        self,
        grid: EventGridStandIn,
        vault: Vault,
        url: str,
        *,
        schema: Schema,
        audience: str | None,
        tenant_id: str,
        name: str,
    ) -> None:
        self.grid, self.vault, self.url = grid, vault, url
        self.schema, self.audience, self.tenant_id, self.name = schema, audience, tenant_id, name
        self.attempts: list[DeliveryAttempt] = []
        self._changed = threading.Condition()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver_forever, name=f"eventgrid-{name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"EventSubscription({self.name!r}, {self.url!r}, schema={self.schema!r})"

    def delivered(self, event_type: str | None = None) -> list[DeliveryAttempt]:
        """The attempts that succeeded (200-204), of ``event_type`` if given."""
        with self._changed:
            return [a for a in self.attempts if a.status in DELIVERED and event_type in (None, a.event_type)]

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[DeliveryAttempt]:
        """Wait until ``count`` attempts were made in all (successful or not); ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.attempts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.attempts)} of {count} delivery attempts were made to {self.url}")
                self._changed.wait(left)
            return list(self.attempts)

    def enqueue(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def close(self) -> None:
        """Delete the subscription: nothing more is delivered (an event already being delivered finishes)."""
        self.grid.unsubscribe(self)
        self._queue.put(None)

    def _deliver_forever(self) -> None:
        while (event := self._queue.get()) is not None:
            for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
                time.sleep(delay)
                status, body = self.grid.post(self, event, attempt)
                with self._changed:
                    self.attempts.append(DeliveryAttempt(event["id"], _type_of(event), attempt, status, body))
                    self._changed.notify_all()
                if status in DELIVERED:
                    break


class EventGridStandIn:
    """Event Grid's deliveries for the emulator's vaults (see the module docstring)."""

    def __init__(self, directory: Directory, issuer: TokenIssuer, ca_bundle: Callable[[], str]) -> None:
        self._directory = directory
        self._issuer = issuer
        self._ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._principal: AppRegistration | None = None
        self.subscriptions: list[EventSubscription] = []
        self._session = requests.Session()
        self._session.trust_env = False  # REQUESTS_CA_BUNDLE of the machine must not replace the emulator's CA

    @property
    def principal(self) -> AppRegistration:
        """Event Grid's service principal in the home tenant (app id ``EVENT_GRID_APP_ID``), made on first use:
        ``assign_role(api, emulator.event_grid.principal, "AzureEventGridSecureWebhookSubscriber")``."""
        with self._lock:
            if self._principal is None:
                self._principal = self._directory.find_app(EVENT_GRID_APP_ID) or self._directory.register_app(
                    app_id=EVENT_GRID_APP_ID, display_name="Microsoft.EventGrid"
                )
            return self._principal

    def subscribe(
        self,
        vault: Vault,
        url: str,
        *,
        schema: Schema = "EventGridSchema",
        audience: str | None = None,
        tenant_id: str | None = None,
        name: str | None = None,
    ) -> EventSubscription:
        """Subscribe ``url`` to ``vault``'s events after the handshake of ``schema``; ``audience`` None sends no
        token (a subscription without Entra ID authentication)."""
        if schema not in ("EventGridSchema", "CloudEventSchema"):
            raise ValueError(f"schema must be 'EventGridSchema' or 'CloudEventSchema', not {schema!r}")
        subscription = EventSubscription(
            self,
            vault,
            url,
            schema=schema,
            audience=audience,
            tenant_id=tenant_id or self._directory.home_tenant.tenant_id,
            name=name or f"appauth-emulator-{uuid.uuid4().hex[:8]}",
        )
        try:
            self._validate(subscription)
        except BaseException:
            subscription.close()
            raise
        with self._lock:
            self.subscriptions.append(subscription)
        return subscription

    def secret_set(self, vault: Vault, secret: SecretVersion) -> None:
        """The vault's listener: a new version of a secret was set."""
        self.emit(vault, secret, SECRET_NEW_VERSION)

    def emit(self, vault: Vault, secret: SecretVersion, event_type: str) -> None:
        """Deliver a Key Vault event of ``event_type`` about ``secret`` to every subscription of ``vault``."""
        with self._lock:
            subscriptions = [s for s in self.subscriptions if s.vault is vault]
        for subscription in subscriptions:
            subscription.enqueue(_key_vault_event(vault, secret, event_type, self._directory.subscription_id))

    def unsubscribe(self, subscription: EventSubscription) -> None:
        with self._lock:
            if subscription in self.subscriptions:
                self.subscriptions.remove(subscription)

    def close(self) -> None:
        for subscription in list(self.subscriptions):
            subscription.close()
        self._session.close()

    # --- HTTP -------------------------------------------------------------------------------------

    def post(self, subscription: EventSubscription, event: dict[str, Any], attempt: int) -> tuple[int, bytes]:
        if subscription.schema == "EventGridSchema":
            body = json.dumps([event]).encode()
            headers = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "Notification"}
        else:
            body = json.dumps(_as_cloud_event(event)).encode()
            headers = {"Content-Type": "application/cloudevents+json; charset=utf-8",
                       "WebHook-Request-Origin": EVENT_GRID_ORIGIN}  # fmt: skip
        headers.update({"aeg-subscription-name": subscription.name.upper(), "aeg-delivery-count": str(attempt - 1)})
        return self._send("POST", subscription, headers, body)

    def _validate(self, subscription: EventSubscription) -> None:
        if subscription.schema == "CloudEventSchema":
            headers = {"WebHook-Request-Origin": EVENT_GRID_ORIGIN, "WebHook-Request-Rate": "120"}
            response = self._request("OPTIONS", subscription, headers, b"")
            allowed = response.headers.get("WebHook-Allowed-Origin") if response is not None else None
            if allowed not in (EVENT_GRID_ORIGIN, "*"):
                status = response.status_code if response is not None else 0
                raise SubscriptionValidationError(
                    f"{subscription.url} did not allow deliveries from {EVENT_GRID_ORIGIN} (status {status})", status
                )
            return
        code = str(uuid.uuid4())
        validation = {
            "id": str(uuid.uuid4()),
            "topic": f"/subscriptions/{self._directory.subscription_id}",
            "subject": "",
            "data": {
                "validationCode": code,
                "validationUrl": f"https://127.0.0.1/eventsubscriptions/validate?id={code}",
            },
            "eventType": VALIDATION_EVENT,
            "eventTime": _now(),
            "metadataVersion": "1",
            "dataVersion": "2",
        }
        headers = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "SubscriptionValidation",
                   "aeg-subscription-name": subscription.name.upper()}  # fmt: skip
        response = self._request("POST", subscription, headers, json.dumps([validation]).encode())
        answered = _json(response) if response is not None and response.status_code == 200 else None
        if not isinstance(answered, dict) or answered.get("validationResponse") != code:
            status = response.status_code if response is not None else 0
            raise SubscriptionValidationError(
                f"{subscription.url} did not answer the subscription validation event (status {status})", status
            )

    def _send(
        self, method: str, subscription: EventSubscription, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        response = self._request(method, subscription, headers, body)
        return (response.status_code, response.content) if response is not None else (0, b"")

    def _request(
        self, method: str, subscription: EventSubscription, headers: dict[str, str], body: bytes
    ) -> requests.Response | None:
        if subscription.audience is not None and method != "OPTIONS":
            headers = {
                **headers,
                "Authorization": "Bearer " + self.token(subscription.audience, subscription.tenant_id),
            }
        try:
            return self._session.request(
                method, subscription.url, headers=headers, data=body, timeout=TIMEOUT,
                verify=self._ca_bundle(), allow_redirects=False,
            )  # fmt: skip
        except requests.RequestException:
            return None

    def token(self, audience: str, tenant_id: str) -> str:
        """The access token Event Grid sends: for ``audience``, issued in ``tenant_id`` to Event Grid's app."""
        principal = self.principal
        try:
            target = self._directory.token_target(tenant_id, audience, principal.object_id)
        except ResourceNotFound:
            target = TokenTarget(audience)
        return self._issuer.issue(
            tenant_id=tenant_id,
            audience=target.audience,
            app_id=principal.app_id,
            object_id=principal.object_id,
            appidacr="2",  # a first-party application signs in with a certificate
            version=target.version,
            roles=target.roles,
        ).access_token


def _key_vault_event(vault: Vault, secret: SecretVersion, event_type: str, subscription_id: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Id": f"{vault.url}secrets/{secret.name}/{secret.version}",
        "VaultName": vault.name,
        "ObjectType": "Secret",
        "ObjectName": secret.name,
        "Version": secret.version,
        "NBF": secret.not_before,
        "EXP": secret.expires,
    }
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{subscription_id}/resourceGroups/appauth-emulator/providers/"
        f"Microsoft.KeyVault/vaults/{vault.name}",
        "subject": secret.name,
        "eventType": event_type,
        "eventTime": _now(),
        "data": data,
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def _as_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def _type_of(event: dict[str, Any]) -> str:
    return str(event["eventType"])


def _now() -> str:
    """Event Grid's form: seven fractional digits and a Z."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
