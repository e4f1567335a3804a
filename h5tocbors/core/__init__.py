"""The core, which knows no protocol: one event counter for all streams (`events`),
captures written (`convert`), `dranspose replay -s` sources (`replay`), many inputs
(`batch`), threads by default (`jobs`). Frames become payloads below it, in `payloads`.
"""
