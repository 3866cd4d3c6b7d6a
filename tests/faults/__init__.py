"""Fault injection and bad input: scoot under attack keeps every record whole and every run counted.

Trial counts are small by default; `SCOOT_FAULT_TRIALS=full` runs the full
counts (20 daemon kills, 50 racing pairs) and `SCOOT_FAULT_TRIALS=N` runs N
of each. The suite prints its figures at the end of the session.
"""
