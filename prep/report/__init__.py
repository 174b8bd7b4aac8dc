"""`prep report`: one self-contained HTML page about a built dataset, to open in a browser.

It reads what every registered stage (prep/stages.py) left under the data root (`raw/`, `tags/`,
`faces/`, `lineart/`, `content/`), says which are missing and how to build them, and shows counts
per stage, rejection reasons, the tag vocabulary, face sizes, source resolutions, contact sheets,
a sample of rejected sources with thumbnails, and the parameters each stage recorded. Every
picture is a `data:` URI; the page loads nothing from anywhere and needs no script.

Modules: `collect` (reading the stages), `html` (small HTML helpers), `context` (what sections are
given), `views` (each stage's part), `stage_sections` (the sections one stage draws),
`sections` (the sections covering every stage), `page` (the page), `plots` (the charts).
"""

from prep.report.page import Report, build_report, summary

__all__ = ["Report", "build_report", "summary"]
