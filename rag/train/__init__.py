"""Training scripts for newsrag's learned components, run on RealTimeQA's 2024 weeks.

Nothing here runs at answer time: the scripts write the committed weights under
`rag/models/` and their sha256 into its manifest, so a fresh clone needs no training.
"""
