"""The stages of loading a suite (bench.suite is the entry point): schema (keys, defaults), merge
(files and includes), checks (shared), top, attacks, leaderboard, and builder, which runs them."""
