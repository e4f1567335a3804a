"""Scans: which streams a scan file holds, and where each message goes on the shared timeline.

`specs` parses `NAME[=PATH[:PROTOCOL]]`; `master` reads a contrast master file's streams and
points/steps; `config` reads a TOML description of any other layout; `plan` chooses each
stream's protocol and cadence and places its messages on events.
"""
