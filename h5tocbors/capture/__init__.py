"""The capture side: encode messages as dranspose's dumper does (`encode`), write them
atomically through locked temporaries (`write`, `temporary`), read captures back safely
(`read`) and summarize them (`inspect`).
"""
