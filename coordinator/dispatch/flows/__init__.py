"""Dispatch's use cases, one module per job: `planning` (an incident's tasks), `offers` (the
matching's offers, a freed slot's refill, an offer's window), `responses` (accept, decline,
done, expiry), `overrides` (a dispatcher's cancel and assign), `incidents` (close, stand down),
`replies` (a volunteer's text acted on), `reminders`; `transitions.move` is the one place an
assignment's status changes."""
