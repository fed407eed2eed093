"""The demo data set, shipped in the wheel as the package ``desk.seed``."""
