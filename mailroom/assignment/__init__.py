"""Assignment: who gets a conversation (pure strategies) and writing it so that no conversation is
ever held twice and no agent is routed past their capacity (conditional transactions)."""
