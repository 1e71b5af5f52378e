"""Running the organisation: mailboxes, people and teams, for the admin UI, the JSON API and the CLI."""
