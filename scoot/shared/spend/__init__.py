"""Spend: tokens counted, budgets enforced, named backends, retries of failed runs.

Each module holds pure decisions; the worker, the scheduler and the supervisor
call them and do the waiting, forking and writing themselves.
"""
