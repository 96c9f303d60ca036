"""The metrics floor: ALAS (``alas``), benchmark items and scorers (``bench``), and confidence intervals
(``intervals``). Pure computation: no stage package is imported here."""
