"""Notifications: what a run's outcome tells its owner, and how it reaches them.

events (pure: which events an outcome produces), payload (the scoot.notify.v1
body and its signature), outbox (durable, parent-written), courier (the
process that makes the attempts), pings (Healthchecks-style URLs), schema
(result checks), settings and jobkeys (configuration), notifier (the run-event
subscriber that ties them together).
"""
