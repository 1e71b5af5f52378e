"""Domain models: plain pydantic models and pure functions, no I/O."""
