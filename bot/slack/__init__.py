"""The Slack adapter: every slack-bolt and slack-sdk import lives in this package."""
