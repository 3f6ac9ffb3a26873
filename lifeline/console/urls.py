from django.urls import path, register_converter

from lifeline.core.parsing import ObjectIdConverter
from lifeline.phone import console_views as phone_views

from .views import (
    audit,
    auth,
    calls,
    canned,
    cases,
    exchanges,
    failures,
    figures,
    operations,
    pages,
    posts,
    queue,
    staff,
    verification,
    visits,
)

register_converter(ObjectIdConverter, "id")

app_name = "console"

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("otp/setup/", auth.otp_setup, name="otp_setup"),
    path("otp/verify/", auth.otp_verify, name="otp_verify"),
    path("cases/", cases.case_list, name="case_list"),
    path("cases/new/", cases.case_create, name="case_create"),
    path("cases/<uuid:case_id>/", cases.case_detail, name="case_detail"),
    path("verification/", verification.verification_queue, name="verification_queue"),
    path("enrol/", staff.enrol, name="enrol"),
    path("staff/", staff.staff_list, name="staff_list"),
    path("staff/new/", staff.staff_create, name="staff_create"),
    path("staff/<id:user_id>/", staff.staff_detail, name="staff_detail"),
    path("staff/changes/<id:change_id>/", staff.staff_change, name="staff_change"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("queue/", queue.queue, name="queue"),
    path("queue/next/", queue.queue_next, name="queue_next"),
    path("canned/", canned.canned_list, name="canned_list"),
    path("canned/<id:answer_id>/", canned.canned_detail, name="canned_detail"),
    path("shift/", queue.shift, name="shift"),
    path("conversations/<uuid:conversation_id>/", queue.conversation, name="conversation"),
    path("media/<uuid:attachment_id>/", queue.media, name="media"),
    path("calls/new/", calls.call_new, name="call_new"),
    path("calls/<uuid:run_id>/", calls.call, name="call"),
    path("search/", cases.search, name="search"),
    path("cases/<uuid:case_id>/action/", cases.case_action, name="case_action"),
    path("operations/", operations.operations, name="operations"),
    path("exchanges/", exchanges.exchanges, name="exchanges"),
    path("exchanges/<id:exchange_id>/", exchanges.exchange_detail, name="exchange_detail"),
    path("calls/missed/", phone_views.missed, name="calls_missed"),
    path("calls/popup/", phone_views.popup, name="call_popup"),
    path("blocks/", phone_views.blocks, name="blocks"),
    path("failed/", failures.failed, name="failed"),
    path("visits/", visits.visits, name="visits"),
    path("figures/", figures.dashboard, name="figures"),
    path("figures/export/<slug:name>.<slug:fmt>", figures.export, name="figures_export"),
    path("figures/publication/", figures.publication, name="figures_publication"),
    path("pages/", pages.page_list, name="page_list"),
    path("pages/versions/<id:version_id>/", pages.page_version, name="page_version"),
    path("pages/<slug:slug>/<str:language>/", pages.page_history, name="page_history"),
    path("posts/", posts.post_list, name="post_list"),
    path("posts/<uuid:post_id>/", posts.post_detail, name="post_detail"),
    path("posts/<uuid:post_id>/image/", posts.post_image, name="post_image"),
]
