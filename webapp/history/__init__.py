"""The call log: every call on record, from our API, the providers' own history and their webhooks.

``schema`` holds the tables and ``migrations/`` their Alembic history (shipped with the
package: a fresh database is created and upgraded at start-up, no command needed);
``store`` is the only code that reads or writes them; ``sync`` pulls the providers' call
lists into it; ``webhooks`` takes the calls providers report to us.
"""
