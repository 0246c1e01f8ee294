"""The image's build context (Dockerfile's `COPY . .`): what .dockerignore keeps out."""

from tests.deploy.compose import ROOT

# A developer's secrets, virtualenv, database and files, git history, test artifacts and
# caches: none belongs in an image that may be pushed to a registry.
MUST_STAY_OUT = {
    ".env",
    ".venv/",
    "var/",
    ".git/",
    "staticfiles/",
    "test-artifacts/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    "**/__pycache__/",
}


def dockerignore_patterns() -> set[str]:
    path = ROOT / ".dockerignore"
    assert path.exists(), "no .dockerignore: `COPY . .` would copy .env and .venv"
    lines = (line.strip() for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    missing = MUST_STAY_OUT - dockerignore_patterns()
    assert not missing, f"the build context would include {sorted(missing)}"


def test_dockerignore_still_ships_the_env_example():
    patterns = dockerignore_patterns()
    assert ".env.*" not in patterns or "!.env.example" in patterns
