"""Mailroom: a serverless shared inbox. The core library shared by every function and the sandbox."""
