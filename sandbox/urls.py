"""The simulators, mounted under /sandbox/ when SANDBOX_ENABLED is on."""

from django.urls import re_path

from sandbox.hub import django_view, simulator_classes

# Resolved when the URLconf loads (Django's startup checks load it), so a declared simulator that does not
# import stops the portal at start instead of failing on the first /sandbox/ request.
simulator_classes()

urlpatterns = [re_path(r"^(?P<path>.*)$", django_view)]
