"""Routing rules: admin-written conditions and actions, evaluated on every new inbound message.

``model`` (the rules, the facts they see, the decision), ``engine.evaluate``, ``yaml_io`` (the
admins' file format) and ``patterns`` (bounded regular expressions). Import the module you need:
this package imports nothing itself, so the route function loads only what it uses."""
