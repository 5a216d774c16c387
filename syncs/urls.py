from django.urls import path

from syncs import views

app_name = "status"
urlpatterns = [
    path("", views.home, name="home"),
    path("integrations/<int:pk>/records/", views.records, name="records"),
    path("integrations/<int:pk>/tie-out/", views.tieout_page, name="tieout"),
    path("records/<int:pk>/", views.record, name="record"),
]
