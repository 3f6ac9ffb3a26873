"""The press office's work in headless Chromium: a site page is edited, previewed, sent for
approval and published by a supervisor (the site shows it); a channel post with a picture is
drafted, approved, sent to the fake Bot API once, then deleted from the channel.
Screenshots go to test-artifacts/. The ORM is used only between browser sessions."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import FilePayload, expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from lifeline.channels import broadcast
from lifeline.channels.models import ChannelPost, PostDelivery, PostStatus
from lifeline.channels.telegram import TelegramSender
from lifeline.core.models import Role
from lifeline.public.models import PageStatus, PageVersion
from tests.browser import ARTIFACTS, browser_page
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_telegram_media import jpeg
from tests.console.test_browser_story import account, fresh_code, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"press-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_a_page_is_edited_previewed_approved_and_published(live_server: LiveServer) -> None:
    base = live_server.url
    press, press_code = account(Role.PRESS, "petra")
    boss, boss_code = account(Role.SUPERVISOR, "sasha")
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "petra", press_code)
        page.click("nav >> text=Site pages")
        page.click("a[href='/console/pages/safety/en/']")
        page.click("#start-draft")
        page.fill("textarea[name=text]", "# Safety\n\nOur only bot is **@lifeline_demo_bot**.")
        page.click("button[value=save]")
        expect(page.locator("#preview strong")).to_have_text("@lifeline_demo_bot")
        expect(page.locator("#diff .diff-add").first).to_be_visible()
        shot(page, "page-draft")
        page.click("button[value=submit]")
        expect(page.locator("#version-status")).to_have_text("Waiting for approval")
        expect(page.locator("#approve")).to_have_count(0)  # the press office cannot approve
    version = PageVersion.objects.get(slug="safety", language="en")
    assert version.status == PageStatus.SUBMITTED
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "sasha", boss_code)
        page.click("nav >> text=Site pages")
        page.click("#waiting a")
        shot(page, "page-review")
        page.click("#approve")
        expect(page.locator("#version-status")).to_have_text("Published")
        page.goto(f"{base}/p/safety/")
        expect(page.locator("main strong")).to_have_text("@lifeline_demo_bot")
        expect(page.locator("#quick-exit")).to_be_visible()
    version.refresh_from_db()
    assert version.status == PageStatus.PUBLISHED
    assert version.reviewed_by == boss
    assert version.author == press


def test_a_channel_post_with_a_picture_is_approved_sent_once_and_deleted(
    live_server: LiveServer, settings: SettingsWrapper, tmp_path: object
) -> None:
    base = live_server.url
    fake = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.LIFELINE_TELEGRAM_API_BASE = fake.base
    _press, press_code = account(Role.PRESS, "pavel")
    boss, boss_code = account(Role.SUPERVISOR, "sofia")
    picture = jpeg()
    try:
        with browser_page(locale="en-US") as page:
            sign_in(page, base, "pavel", press_code)
            page.click("nav >> text=Channel posts")
            page.fill("textarea[name=text_ru]", "Хочу жить: мы на связи круглосуточно.")
            page.set_input_files(
                "input[name=image]",
                files=FilePayload(name="photo.jpg", mimeType="image/jpeg", buffer=picture),
            )
            page.click("#post-form button[type=submit]")
            expect(page.locator("#post-status")).to_have_text("Not yet approved")
            expect(page.locator("img.post-image")).to_be_visible()
            page.click("button[value=submit]")
            expect(page.locator("#post-proposal")).to_have_text("Waiting for approval")
            expect(page.locator("#approve")).to_have_count(0)
            shot(page, "post-submitted")
        post = ChannelPost.objects.get()
        with browser_page(locale="en-US") as page:
            sign_in(page, base, "sofia", boss_code)
            page.goto(f"{base}/console/posts/{post.pk}/")
            page.click("#approve")
            expect(page.locator("#post-status")).to_have_text("Approved, scheduled")
        sender = TelegramSender()
        try:
            assert broadcast.send_all(sender) == 1
            assert broadcast.send_all(sender) == 0  # never twice
        finally:
            sender.close()
        photos = fake.sent("sendPhoto")
        assert len(photos) == 1
        assert photos[0].data["chat_id"] == "@lifeline_test_ru"
        assert photos[0].data["caption"] == "Хочу жить: мы на связи круглосуточно."
        assert b"SpyPhone" not in photos[0].data["photo"]
        again = fresh_code(boss)
        with browser_page(locale="en-US") as page:
            sign_in(page, base, "sofia", again)
            page.goto(f"{base}/console/posts/{post.pk}/")
            expect(page.locator("#post-status")).to_have_text("Published")
            expect(page.locator("#history li")).to_have_count(3)
            shot(page, "post-published")
            page.click("#delete-post")
            expect(page.locator("#post-status")).to_have_text("Deleted")
        # The channel's gap since the post (a few seconds) has passed.
        PostDelivery.objects.filter(sent_at__isnull=False).update(
            sent_at=timezone.now() - broadcast.POST_GAP
        )
        sender = TelegramSender()
        try:
            assert broadcast.send_all(sender) == 1
        finally:
            sender.close()
        deleted = fake.sent("deleteMessage")
        sent_id = PostDelivery.objects.get(action="post").message_id
        assert [(c.data["chat_id"], c.data["message_id"]) for c in deleted] == [
            ("@lifeline_test_ru", sent_id)
        ]
        assert ChannelPost.objects.get().status == PostStatus.DELETED
    finally:
        fake.stop()


def test_the_figures_dashboard_in_chromium(live_server: LiveServer) -> None:
    from tests.stats.test_figures import _seed

    _seed()
    _boss, code = account(Role.SUPERVISOR, "fedor")
    with browser_page(locale="en-US", viewport=(1200, 900)) as page:
        sign_in(page, live_server.url, "fedor", code)
        page.click("nav >> text=Figures")
        page.fill("input[name=start]", "2026-01-01")
        page.fill("input[name=end]", "2026-03-31")
        page.click("#figures-form button[type=submit]")
        expect(page.locator("#funnel tbody tr").first).to_contain_text("37")
        expect(page.locator("svg.chart rect")).to_have_count(10)
        expect(page.locator("#operators")).to_contain_text("Whole team")
        shot(page, "figures-dashboard")
        # The supervisor publishes two figures; the public page shows them, small ones hidden.
        page.click("text=Choose what is published")
        page.check("input[value='contact.new']")
        page.check("input[value='case.surrendered']")
        page.click("#publication-form button[type=submit]")
        expect(page.locator("input[value='contact.new']")).to_be_checked()
        page.goto(f"{live_server.url}/figures/")
        expect(page.locator("#totals")).to_contain_text("37")
        expect(page.locator("#totals")).to_contain_text("fewer than 10")
        shot(page, "figures-public")
    for language in ("ru", "uk"):
        with browser_page(locale=language, viewport=(390, 800)) as page:
            page.goto(f"{live_server.url}/figures/")
            expect(page.locator("#months")).to_be_visible()
            shot(page, f"figures-public-{language}-phone")
