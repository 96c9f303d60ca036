"""Reports: papermill notebooks (notebooks/) call these functions to turn results into tables and figures."""
