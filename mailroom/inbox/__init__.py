"""The read side: inbox views and conversation threads, as DynamoDB queries (never scans)."""
