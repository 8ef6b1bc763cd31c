"""The contract between Nuanliu's parts: event envelope, typed payloads, topics, bus and outbox.

Nothing in here imports the application (`coordinator`) or the consumers: dependencies point
inwards, so any part can speak the contract without dragging the rest along.
"""
