"""`train demo`: the studio web app (server, page, static export); see train/demo/server.py."""
