"""Options shared by every Slipway module that talks to Forgejo."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  forgejo_url:
    description:
      - Base URL of the Forgejo instance, without C(/api/v1), for example C(http://127.0.0.1:3001).
      - Falls back to the environment variable E(FORGEJO_URL).
    type: str
  forgejo_token:
    description:
      - "Access token, sent as C(Authorization: token ...). Never logged, never shown in errors."
      - Falls back to the environment variable E(FORGEJO_TOKEN).
    type: str
  repo:
    description:
      - The repository as C(owner/name). Falls back to E(FORGEJO_REPO).
    type: str
  watcher_config:
    description:
      - Path of the watcher's C(watcher.config.json). O(forgejo_url), O(repo) and O(forgejo_token) not given
        are read from it (keys C(forgejoUrl), C(repo), C(token)), so the token never passes through
        playbook variables.
      - One of O(watcher_config) or all of O(forgejo_url), O(repo), O(forgejo_token) (or their environment
        variables) is required.
    type: path
  connect_timeout:
    description: Seconds to wait for a connection to Forgejo.
    type: float
    default: 5
  read_timeout:
    description: Seconds to wait for Forgejo's answer.
    type: float
    default: 30
  retries:
    description:
      - Retries on connection errors and 5xx answers, with exponential backoff.
      - Idempotent requests only; a POST is retried only when it never reached the server.
    type: int
    default: 3
  validate_certs:
    description: Verify the TLS certificate of an C(https://) Forgejo.
    type: bool
    default: true
requirements:
  - httpx
"""
