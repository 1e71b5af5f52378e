"""Calendars: business hours, agent schedules, holidays, and time arithmetic over them."""
