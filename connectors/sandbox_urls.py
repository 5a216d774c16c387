"""The simulators, mounted under /sandbox/ when SANDBOX_ENABLED is on."""

from django.urls import re_path

from connectors.sandbox import django_view

urlpatterns = [re_path(r"^(?P<path>.*)$", django_view)]
