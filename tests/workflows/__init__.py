"""Workflow tests: the workflows on a real store (both databases), a fake clock and recording
ports (tests/support/world.py); no HTTP server. (test_simulate_report also runs `firebell
simulate` as a user would.)"""
