"""Notifications: what a run's outcome tells its owner, and how it reaches them.

events (pure: which events an outcome produces), memory (each job's last
outcome, for those rules), payload (the scoot.notify.v1 body and its
signature), outbox (durable, parent-written), deliveries (attempts, retries,
give-ups and leftovers of dead processes), courier (the process that makes
the attempts), journal (notify.jsonl, audit events, warnings), pings
(Healthchecks-style URLs), schema (result checks), settings and jobkeys
(configuration), notifier (the run-event subscriber that ties them together).
"""
