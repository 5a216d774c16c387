from django.urls import path

from webhooks.views import bill_webhook

urlpatterns = [path("bill/<uuid:subscription_id>/", bill_webhook, name="bill-webhook")]
