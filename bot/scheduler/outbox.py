"""What the scheduler sends and through which platform: each rep on their own channel.

A rep with a Slack id gets Slack (when Slack is configured), else one with a WeCom userid
gets WeCom. Digests are the `/digest` reply rendered for the channel, then the chart;
reminders list the accounts due, each with the adapter's buttons.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from bot.delivery import SendResult
from messages.channels import to_wecom
from messages.cards import alert_card, chart_title, reminder_card
from messages.render import render, render_for

log = logging.getLogger("tierbot.scheduler")


@dataclass(frozen=True)
class Recipient:
    id: int
    key: str
    name: str
    role: str
    slack_user_id: str | None
    wecom_userid: str | None
    timezone: str | None
    locale: str | None
    digest_at: str | None
    reminder_at: str | None


class Outbox:
    def __init__(self, slack=None, wecom=None):
        self.slack, self.wecom = slack, wecom  # SlackSender, WeComSender (or None)

    def channel(self, rep: Recipient) -> str | None:
        if rep.slack_user_id and self.slack is not None:
            return "slack"
        if rep.wecom_userid and self.wecom is not None:
            return "wecom"
        return None

    def digest(self, rep: Recipient, channel: str, template: str, context: dict, locale: str,
               chart: bytes | None) -> SendResult:
        """The digest text first (it carries everything), then the chart; a chart that
        can't be delivered doesn't fail the digest (its numbers are in the text)."""
        if channel == "slack":
            result = self.slack.dm(rep.slack_user_id, render_for(template, context,
                                                                 channel="slack", locale=locale))
            if result.ok and chart:
                shown = self.slack.upload_png(rep.slack_user_id, chart, filename="tiers.png",
                                              title=chart_title(locale))
                if not shown.ok:
                    log.warning("digest chart for %s not delivered: %s", rep.key, shown.error)
            return result
        result = self.wecom.markdown(rep.wecom_userid, render_for(template, context,
                                                                  channel="wecom", locale=locale))
        if result.ok and chart:
            shown = self.wecom.image(rep.wecom_userid, chart, "tiers.png")
            if not shown.ok:
                log.warning("digest chart for %s not delivered: %s", rep.key, shown.error)
        return result

    def reminder(self, rep: Recipient, channel: str, rows: list[dict], more: int, locale: str,
                 today: date, period: str) -> SendResult:
        context = {"rows": rows, "more": more, "today": today}
        if channel == "slack":
            return self.slack.dm(rep.slack_user_id, self._slack_reminder(context, locale))
        # WeCom: a card per account (buttons), then one line for the rest.
        from bot.wecom.cards import account_card, task_id

        result = self._cards(rep, [account_card(
            key=r["key"], name=r["name"], **reminder_card(r, locale),
            locale=locale, task=task_id("rem", rep.key, period, r["key"])) for r in rows])
        if result.ok and more:
            text = render("reminder", {**context, "rows": []}, channel="wecom", locale=locale)
            result = self.wecom.markdown(rep.wecom_userid, to_wecom(text, locale))
        return result

    def _cards(self, rep: Recipient, cards: list[dict]) -> SendResult:
        """Send each card in turn; the first failure stops and is the result."""
        result = SendResult.failed("nothing to send", retryable=False)
        for card in cards:
            result = self.wecom.card(rep.wecom_userid, card)
            if not result.ok:
                break
        return result

    def alert(self, rep: Recipient, channel: str, rows: list[dict], locale: str,
              period: str) -> SendResult:
        """Accounts that just moved into the at-risk tier, each with the reason and buttons."""
        if channel == "slack":
            return self.slack.dm(rep.slack_user_id, self._slack_list("alert", "alert_row", rows,
                                                                     {}, locale))
        from bot.wecom.cards import account_card, task_id

        return self._cards(rep, [account_card(
            key=r["key"], name=r["name"], **alert_card(r, locale),
            locale=locale, task=task_id("alert", rep.key, period, r["key"])) for r in rows])

    @staticmethod
    def _slack_list(template: str, row_template: str, rows: list[dict], context: dict,
                    locale: str, more_line: bool = False) -> dict:
        """A header, then each account's line with its Log visit / Snooze / Done buttons."""
        from bot.slack.views import account_buttons

        lines = [line for line in render(template, {**context, "rows": rows}, channel="slack",
                                         locale=locale).split("\n") if line.strip()]
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": lines[0]}}]
        for r in rows[:16]:  # 3 blocks each: within Slack's 50
            line = render(row_template, {"r": r}, channel="slack", locale=locale)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
            blocks.append(account_buttons(r["key"], r["name"], locale))
        if more_line:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                            "text": lines[-1]}]})
        return {"text": lines[0], "blocks": blocks[:50]}

    @classmethod
    def _slack_reminder(cls, context: dict, locale: str) -> dict:
        return cls._slack_list("reminder", "reminder_row", context["rows"], context, locale,
                               more_line=bool(context["more"]))
