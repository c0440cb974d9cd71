"""Plumbing under every layer (private): single flight, fork safety, HTTP size and time limits, the shared
TLS trust, traceback-frame hygiene and how messages spell a setting. Imports only ``errors``."""
