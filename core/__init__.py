"""The bottom of the house: what every app shares (domain errors, the upload reader, admin
helpers, model bases). It imports no other app of the project, and no app imports ``config``."""
