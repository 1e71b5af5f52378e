"""What agents do to a conversation: claim, assign, transfer, tag, status (snooze), merge, notes.

``model`` holds the requests and the pure decisions, ``service``/``merge``/``notes`` read, decide
and write (every write conditional on the conversation's ``version``, with its audit events and the
agents' load counters in the same transaction).
"""
