"""The read-only web view served by `firebell serve` at `/`: who is on call and the shifts ahead,
the incidents, and the reports as charts (server-rendered, no JavaScript needed).

`pages.py` has the pages (each a Starlette route reading `request.state.person`, the signed-in
catalog person), `charts.py` draws SVG charts, `auth.py` signs people in (Slack or Entra OpenID
Connect, or a trusted proxy header) and keeps them in a signed cookie; nobody gets in anonymously.
"""
