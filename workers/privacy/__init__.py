"""A data subject's records: their export (GDPR articles 15 and 20)."""
