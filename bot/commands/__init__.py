"""The transport-neutral command layer: a Request and Services in, a Reply out.

Like flask's `sansio/`: nothing here talks to Slack, WeCom or a terminal. Adapters turn
their payloads into a `Request`, call `dispatch`, and render the `Reply` for their channel.
"""
from bot.commands.core import Reply, Request, Services, UserError
from bot.commands.dispatch import dispatch

__all__ = ["Reply", "Request", "Services", "UserError", "dispatch"]
