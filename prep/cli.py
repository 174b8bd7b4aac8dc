"""The `prep` command: every data stage, from the crawl to shards, and the stage runner.

Each subcommand lives in `prep/commands/<name>.py`, which imports only light modules at the
top so that `prep --help` starts fast; heavy libraries load inside the command that needs them.
"""

from __future__ import annotations

from core.cli import make_app, run_app
from prep.commands import canny, crawl, faces, images, report, repro, sample_site, show, tags, verify

app = make_app(
    "prep",
    "Crawl a booru and turn it into WebDataset shards of faces, tags and line art (or any photos into content shards).",
)

app.command("crawl")(crawl.main)
app.command("sample-site")(sample_site.main)
app.command("faces")(faces.main)
app.command("tags")(tags.main)
app.command("canny")(canny.main)
app.command("images")(images.main)
app.command("verify")(verify.main)
app.command("show")(show.main)
app.command("report")(report.main)
app.command("repro")(repro.repro)
app.command("status")(repro.status)
app.command("dag")(repro.dag)


def main() -> None:
    run_app(app, "prep")


if __name__ == "__main__":
    main()
