"""Who ran which calls: the admin view (``/admin``) and its JSON API (``/api/admin``).

The view signs in with a password (session cookie, CSRF on every form); the API takes a bearer
token. Both read the call log (``webapp.history``) through the same filters
(``models.CallFilter``).
"""
