from django.urls import path

from lifeline.phone import console_views as phone_views

from . import canned_views, exchange_views, failures_views, staff_views, views, work_views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("otp/setup/", views.otp_setup, name="otp_setup"),
    path("otp/verify/", views.otp_verify, name="otp_verify"),
    path("cases/", views.case_list, name="case_list"),
    path("cases/new/", views.case_create, name="case_create"),
    path("cases/<uuid:case_id>/", views.case_detail, name="case_detail"),
    path("verification/", views.verification_queue, name="verification_queue"),
    path("enrol/", staff_views.enrol, name="enrol"),
    path("staff/", staff_views.staff_list, name="staff_list"),
    path("staff/new/", staff_views.staff_create, name="staff_create"),
    path("staff/<int:user_id>/", staff_views.staff_detail, name="staff_detail"),
    path("staff/changes/<int:change_id>/", staff_views.staff_change, name="staff_change"),
    path("audit/", views.audit_list, name="audit_list"),
    path("queue/", work_views.queue, name="queue"),
    path("queue/next/", work_views.queue_next, name="queue_next"),
    path("canned/", canned_views.canned_list, name="canned_list"),
    path("canned/<int:answer_id>/", canned_views.canned_detail, name="canned_detail"),
    path("shift/", work_views.shift, name="shift"),
    path("conversations/<uuid:conversation_id>/", work_views.conversation, name="conversation"),
    path("media/<uuid:attachment_id>/", work_views.media, name="media"),
    path("calls/new/", work_views.call_new, name="call_new"),
    path("calls/<uuid:run_id>/", work_views.call, name="call"),
    path("search/", work_views.search, name="search"),
    path("cases/<uuid:case_id>/action/", work_views.case_action, name="case_action"),
    path("operations/", work_views.operations, name="operations"),
    path("exchanges/", exchange_views.exchanges, name="exchanges"),
    path("exchanges/<int:exchange_id>/", exchange_views.exchange_detail, name="exchange_detail"),
    path("calls/missed/", phone_views.missed, name="calls_missed"),
    path("calls/popup/", phone_views.popup, name="call_popup"),
    path("blocks/", phone_views.blocks, name="blocks"),
    path("failed/", failures_views.failed, name="failed"),
]
