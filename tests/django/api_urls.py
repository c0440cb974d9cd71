from __future__ import annotations

from django.urls import path

from . import api_views

urlpatterns = [
    path("whoami", api_views.whoami),
    path("async/whoami", api_views.whoami_async),
    path("orders", api_views.orders),
    path("async/orders", api_views.orders_async),
    path("orders/add", api_views.add_order),
    path("my-orders", api_views.my_orders),
    path("unprotected", api_views.unprotected),
    path("cbv/orders", api_views.OrdersView.as_view()),
    path("cbv/async/orders", api_views.AsyncOrdersView.as_view()),
    path("cbv/orders/any", api_views.OrdersView.as_view(required_roles=())),
    path("drf/orders", api_views.DrfOrders.as_view()),
    path("drf/any", api_views.DrfAnyCaller.as_view()),
    path("downstream", api_views.downstream),
]
