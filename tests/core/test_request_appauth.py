"""``RequestAppAuth``, what views get as ``request.appauth`` / ``g.appauth``: a narrow surface, nothing behind
it reachable by attribute, and no template engine allowed to call what returns a token or a secret.
(Rendered through the real engines in ``tests/hardening/test_security_templates.py``.)"""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import Iterator

import pytest

from appauth_core.web._config import AppAuthConfig
from appauth_core.web._request_appauth import RequestAppAuth
from appauth_core.web._services import AppAuthServices

SURFACE = {"get_access_token", "get_access_token_async", "secret", "secret_async", "principal", "aio", "caller", "api"}
# api(name) returns a session that sends the app's tokens: as good as a token to a template.
RETURNS_A_SECRET = {"get_access_token", "get_access_token_async", "secret", "secret_async", "api"}


@pytest.fixture
def services() -> Iterator[AppAuthServices]:
    built = AppAuthServices(AppAuthConfig(key_vault_url="https://myvault.vault.azure.net/"))  # no I/O
    yield built
    built.close()


def test_the_surface_is_tokens_secrets_and_the_principal(services: AppAuthServices) -> None:
    facade = RequestAppAuth(services)
    assert {name for name in dir(facade) if not name.startswith("_")} == SURFACE
    assert facade.principal is None  # no token yet
    assert facade.caller is None  # no token validated
    assert repr(facade) == "<RequestAppAuth>"


def test_what_returns_a_secret_is_marked_for_template_engines(services: AppAuthServices) -> None:
    facade = RequestAppAuth(services)
    for name in RETURNS_A_SECRET:
        assert getattr(facade, name).alters_data is True, name  # Django's engine and Jinja's sandbox read it
        assert not getattr(getattr(facade, name), "do_not_call_in_templates", False), name


def test_the_services_are_reachable_by_no_attribute(services: AppAuthServices) -> None:
    facade = RequestAppAuth(services)
    private = {id(services), id(services.config), id(services.provider), id(services.secrets)}
    with pytest.raises(AttributeError):
        facade._services  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        facade._services = services  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        facade.config = services.config  # type: ignore[attr-defined]
    assert not hasattr(facade, "__dict__")
    # Every attribute a template could name (dunders aside), three steps deep.
    frontier: list[object] = [facade]
    for _ in range(3):
        found = [getattr(value, name, None) for value in frontier for name in dir(value) if not name.startswith("__")]
        assert not [value for value in found if id(value) in private]
        frontier = [value for value in found if value is not None and not inspect.isroutine(value)]


def test_a_copy_is_the_same_object_and_a_pickle_is_refused(services: AppAuthServices) -> None:
    facade = RequestAppAuth(services)
    assert copy.copy(facade) is facade
    assert copy.deepcopy({"appauth": facade})["appauth"] is facade
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(facade)
