"""After an incident: the postmortem draft and its review, action items, reminders."""
