"""The web dashboard: the seed's QuickSight panels and more, over the one-box SQLite
database or MySQL/RDS alike. Start it with ``dashboard.server.start_dashboard`` or
``cryptotrades dashboard``."""
