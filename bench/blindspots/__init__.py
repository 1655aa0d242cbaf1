"""The blind-spot study of Hoffer, Fine & Soudry (seed 002): truth-revealing signals injected into
the data at scales far below the image, and which models read them (``bench blindspots``).

encodings: the six signals (and ``none``); models: the conv trunk and the baselines; suite: the
suite file; runner: resumable cells; report: the table and the example figure."""
