"""Reports the union publishes, computed from the facts other domains keep: an incident's
after-action report and a travel-rush season's campaign report, as PDF and XLSX."""
