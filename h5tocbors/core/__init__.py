"""The core, which knows no protocol: frames to payloads (`encoding`, `pipeline`), events
numbered across streams and captures written (`convert`), many inputs (`batch`), and the
proof that a capture matches its source (`verify`).
"""
