"""The scheduler: weekly digests, daily revisit reminders and the nightly rescore."""
