"""scripts/report-issue TITLE BODY: what the portal's Report Issue button sends to Forgejo."""

from __future__ import annotations

import argparse
import os
import sys

import httpx


def report(url: str, repo: str, token: str, title: str, body: str) -> dict:
    """The portal's call: look up the `portal` label's id, then create the issue carrying it."""
    headers = {"Authorization": f"token {token}", "Accept": "application/json"}
    base = f"{url.rstrip('/')}/api/v1/repos/{repo}"
    with httpx.Client(headers=headers, timeout=15) as http:
        labels = http.get(f"{base}/labels", params={"limit": 50})
        labels.raise_for_status()
        portal = [label["id"] for label in labels.json() if label["name"] == "portal"]
        if not portal:
            raise SystemExit(
                f"report-issue: the repository {repo} has no 'portal' label (run site.yml first)"
            )
        created = http.post(f"{base}/issues", json={"title": title, "body": body, "labels": portal})
        if created.status_code != 201:
            raise SystemExit(f"report-issue: Forgejo answered {created.status_code}: {created.text[:200]}")
        return created.json()


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/report-issue", description=__doc__)
    parser.add_argument("title")
    parser.add_argument("body")
    args = parser.parse_args()
    missing = [name for name in ("FORGEJO_URL", "FORGEJO_REPO", "FORGEJO_TOKEN") if not os.environ.get(name)]
    if missing:
        print("report-issue: set " + ", ".join(missing), file=sys.stderr)
        return 2
    issue = report(
        os.environ["FORGEJO_URL"],
        os.environ["FORGEJO_REPO"],
        os.environ["FORGEJO_TOKEN"],
        args.title,
        args.body,
    )
    print(f"#{issue['number']} {issue['html_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
