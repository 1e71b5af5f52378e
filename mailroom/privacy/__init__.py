"""Data protection: export and erase everything about a contact, and the per-mailbox retention purge."""
