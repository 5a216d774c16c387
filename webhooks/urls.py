"""The one webhook endpoint: /webhooks/<system>/<subscription id>/, the system being a registry id. BILL's
subscriptions made before it was generic post to /webhooks/bill/<id>/, which this same route answers."""

from django.urls import path

from webhooks.views import webhook

urlpatterns = [path("<slug:system>/<uuid:subscription_id>/", webhook, name="webhook")]
