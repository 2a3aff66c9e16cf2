"""User studies (OmniHuman-1.5 §4.1): pairwise GSB with defect rates, best-choice Top-1, DA.

- ``plan``: runs -> matched samples -> per-rater comparison plan with attention checks;
- ``db``: the vote store (SQLAlchemy Core; SQLite in WAL mode or PostgreSQL) with migrations;
- ``app``: the rater / admin web application (Flask, served by waitress);
- ``report``: GSB, defect rates, Top-1, DA, agreement, Bradley-Terry, JSON + HTML report.

Optional packages (flask, waitress, sqlalchemy, psycopg) are imported inside these modules
only, never by ``import hxbench``.
"""
