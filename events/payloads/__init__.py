"""One module of typed payloads per domain; `events.registry` collects them all."""
