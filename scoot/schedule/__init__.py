"""What fires when: cron, triggers, jobs, the planner and the ledger."""
