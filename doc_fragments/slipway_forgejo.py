"""Options shared by every Slipway module that talks to Forgejo."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  forgejo_url:
    description:
      - Base URL of the Forgejo instance, without C(/api/v1), for example C(http://127.0.0.1:3001).
      - Falls back to the environment variable E(FORGEJO_URL).
    type: str
    required: true
  forgejo_token:
    description:
      - "Access token, sent as C(Authorization: token ...). Never logged, never shown in errors."
      - Falls back to the environment variable E(FORGEJO_TOKEN).
    type: str
    required: true
  repo:
    description:
      - The repository as C(owner/name). Falls back to E(FORGEJO_REPO).
    type: str
    required: true
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
