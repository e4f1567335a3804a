"""The core, which knows no protocol: one event counter for all streams (`events`), frames
to payloads on threads (`encoding`, `pipeline`), captures written (`convert`), `dranspose
replay -s` sources (`replay`), many inputs (`batch`), threads by default (`jobs`).
"""
