"""Who else is on a conversation right now ("Sam is viewing", "Priya is replying")."""
