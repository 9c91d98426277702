"""The console front-end: a terminal chat (`firebell console`) and the offline demo (`firebell demo`).

Both run the real workflows and storage; only the chat and the pager are local text.
"""
