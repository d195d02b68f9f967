"""Pure scoring: RFM, lifecycle, early warnings, predictions and tier rules.

No I/O and no clock: every function takes plain data and an `as_of` date. `storage/`
loads the data; `bot/` decides when to score.
"""
